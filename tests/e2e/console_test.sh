# The web console in headless Chromium: overview, live workloads, pod logs and events, the service
# graph from the proxy's traffic, and sign-in (tests/ui/console.test.mjs does the clicking).
source "$(dirname "$0")/lib.sh"
UI=$(cd "$(dirname "$0")/../ui" && pwd)
if [ ! -x /usr/bin/chromium ] || ! command -v npm >/dev/null; then
  echo "SKIP: needs Debian's chromium and npm (scripts/install-deps.sh installs chromium)"
  exit 0
fi
if [ ! -d "$UI/node_modules/playwright-core" ]; then
  npm install --prefix "$UI" --no-audit --no-fund >"$WORK/npm.log" 2>&1 || { cat "$WORK/npm.log"; echo "npm install of playwright-core failed"; exit 1; }
fi
GW_PORT=$(free_port)

start_skiff
kubectl apply -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: busybox
        command: ["sh", "-c", "echo hello-from-web; exec python3 -m http.server --bind 127.0.0.1 \$PORT"]
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  gatewayClassName: skiff
  addresses: [{type: IPAddress, value: 127.0.0.1}]
  listeners: [{name: http, port: $GW_PORT, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web}
spec:
  parentRefs: [{name: edge}]
  rules: [{backendRefs: [{name: web, port: 80}]}]
EOF
check "web is ready" wait_for "web ready" 30 bash -c "[ \"\$(kubectl get deploy web -o jsonpath='{.status.readyReplicas}')\" = 1 ]"
check "the gateway answers" wait_for "gateway" 10 curl -sf "http://127.0.0.1:$GW_PORT/"
check "the console page is served at /ui/ without the token" bash -c "curl -sk '$SERVER/ui/' | grep -q '<title>skiff console</title>'"
check "its data is not: /metrics without the token is 401" bash -c "[ \"\$(curl -sk -o /dev/null -w '%{http_code}' '$SERVER/metrics')\" = 401 ]"
check "the chart history answers with the token" bash -c "curl -s --cacert '$CA' -H 'Authorization: Bearer $TOKEN' '$SERVER/skiff/v1/history' | grep -q samples"
out=$(cd "$UI" && NODE_EXTRA_CA_CERTS="$CA" node console.test.mjs "$SERVER" "$TOKEN" "http://127.0.0.1:$GW_PORT/" 2>&1) && rc=0 || rc=$?
echo "$out" | sed 's/^/    /'
check "the console passes its browser checks" test "$rc" -eq 0
finish
