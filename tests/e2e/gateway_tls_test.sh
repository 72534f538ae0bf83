# HTTPS on a Gateway, end to end with kubectl and curl: certificates from `kubectl create secret
# tls`, chosen by SNI; a Secret in another namespace only with a ReferenceGrant; a certificate
# replaced in place; an HTTP listener redirecting to HTTPS; refused manifests and listener status.
source "$(dirname "$0")/lib.sh"

TLS_PORT=$(free_port)
HTTP_PORT=$(free_port)
# Self-signed certificates with the names curl checks.
cert() {  # cert FILE-PREFIX DNS-NAME
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=$2" \
    -addext "subjectAltName=DNS:$2" -keyout "$WORK/$1.key" -out "$WORK/$1.crt" 2>/dev/null
}
cert shop shop.example.com
cert shop2 shop.example.com
cert wild '*.example.com'

cat >"$WORK/server.py" <<'EOF'
import base64, hashlib, http.server, os, struct
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args): pass
    def websocket(self):  # RFC 6455, text messages: each is answered "<pod> echo <text>"
        key = self.headers["sec-websocket-key"] + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", base64.b64encode(hashlib.sha1(key.encode()).digest()).decode())
        self.end_headers()
        self.close_connection = True
        while True:
            h = self.rfile.read(2)
            if len(h) < 2: return
            op, n = h[0] & 15, h[1] & 127
            if n == 126: n = struct.unpack("!H", self.rfile.read(2))[0]
            elif n == 127: n = struct.unpack("!Q", self.rfile.read(8))[0]
            mask = self.rfile.read(4) if h[1] & 128 else bytes(4)
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(n)))
            if op == 8:
                self.wfile.write(b"\x88\x00")
                return
            if op == 1:
                reply = f"{os.environ['POD_NAME']} echo {data.decode()}".encode()[:125]
                self.wfile.write(bytes([0x81, len(reply)]) + reply)
    def do_GET(self):
        if self.headers.get("upgrade", "").lower() == "websocket":
            return self.websocket()
        body = f"{os.environ['POD_NAME']} proto={self.headers.get('x-forwarded-proto', '-')} host={self.headers.get('host')}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_POST(self):
        got = self.rfile.read(int(self.headers.get("content-length", "0")))
        body = f"posted {got.decode()}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
EOF

start_skiff
check "create namespace certs" kubectl create namespace certs
check "kubectl create secret tls" kubectl create secret tls shop-cert --cert "$WORK/shop.crt" --key "$WORK/shop.key"
check "namespaces carry their name as a label" bash -c "[ \"\$(kubectl get ns certs -o jsonpath='{.metadata.labels.kubernetes\\.io/metadata\\.name}')\" = certs ]"
check "a certificate Secret in another namespace" kubectl -n certs create secret tls wildcard --cert "$WORK/wild.crt" --key "$WORK/wild.key"

cat >"$WORK/app.yaml" <<EOF
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
        command: ["python3", "$WORK/server.py"]
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
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
  listeners:
  - name: shop
    port: $TLS_PORT
    protocol: HTTPS
    hostname: shop.example.com
    tls: {certificateRefs: [{name: shop-cert}]}
  - name: wild
    port: $TLS_PORT
    protocol: HTTPS
    hostname: "*.example.com"
    tls: {certificateRefs: [{name: wildcard, namespace: certs}]}
  - name: http
    port: $HTTP_PORT
    protocol: HTTP
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: site}
spec:
  parentRefs: [{name: edge, sectionName: shop}, {name: edge, sectionName: wild}]
  rules: [{backendRefs: [{name: web, port: 80}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: to-https}
spec:
  parentRefs: [{name: edge, sectionName: http}]
  rules: [{filters: [{type: RequestRedirect, requestRedirect: {scheme: https, port: $TLS_PORT, statusCode: 301}}]}]
EOF
check "apply the app, an HTTPS Gateway and routes" kubectl apply -f "$WORK/app.yaml"
check "web ready" wait_for "web ready" 30 bash -c "[ \"\$(kubectl get deploy web -o jsonpath='{.status.readyReplicas}')\" = 1 ]"

https() {  # https NAME CA-FILE [curl args]: a GET to https://NAME:TLS_PORT/ checked against CA-FILE
  local name=$1 ca=$2
  shift 2
  curl -sS --max-time 5 --resolve "$name:$TLS_PORT:127.0.0.1" --cacert "$ca" "$@" "https://$name:$TLS_PORT/"
}
check "HTTPS answers with the shop certificate" wait_for "https" 15 https shop.example.com "$WORK/shop.crt"
out=$(https shop.example.com "$WORK/shop.crt" 2>&1 || true)
check "the pod sees plain HTTP marked x-forwarded-proto https" contains "$out" "proto=https host=shop.example.com:$TLS_PORT"
check "a client offering h2 gets HTTP/2" bash -c "curl -s --http2 -o /dev/null -w '%{http_version}' --resolve shop.example.com:$TLS_PORT:127.0.0.1 --cacert $WORK/shop.crt https://shop.example.com:$TLS_PORT/ | grep -qx 2"
out=$(https shop.example.com "$WORK/shop.crt" --http2 2>&1 || true)
check "its streams reach the HTTP/1.1 pod" contains "$out" "proto=https host=shop.example.com:$TLS_PORT"
out=$(https shop.example.com "$WORK/shop.crt" --http2 -d 'qty=2' 2>&1 || true)
check "with request bodies" contains "$out" "posted qty=2"
check "HTTP/1.1 when the client asks for it" bash -c "curl -s --http1.1 -o /dev/null -w '%{http_version}' --resolve shop.example.com:$TLS_PORT:127.0.0.1 --cacert $WORK/shop.crt https://shop.example.com:$TLS_PORT/ | grep -qx 1.1"
# A browser's WebSocket over the HTTPS listener: Chromium loads the page over HTTP/2 and, the
# proxy offering extended CONNECT, opens the socket as a stream of that connection (RFC 8441).
UI=$(cd "$(dirname "$0")/../ui" && pwd)
if [ -x /usr/bin/chromium ] && command -v npm >/dev/null; then
  if [ ! -d "$UI/node_modules/playwright-core" ]; then
    npm install --prefix "$UI" --no-audit --no-fund >"$WORK/npm.log" 2>&1 || { cat "$WORK/npm.log"; echo "npm install of playwright-core failed"; exit 1; }
  fi
  out=$(cd "$UI" && node websocket.test.mjs shop.example.com "$TLS_PORT" /chat 2>&1 || true)
  check "a browser's WebSocket through the HTTPS Gateway gets the pod's echo" contains "$out" "reply: web-.* echo hello"
  ws_log() { grep '"path":"/chat"' "$WORK/data/logs/proxy-access.log"; }
  check "it went over HTTP/2 as an extended CONNECT" wait_for "access log" 5 bash -c "$(declare -f ws_log); WORK=$WORK ws_log | grep -q '\"protocol\":\"HTTP/2\",\"host\":\"shop.example.com:$TLS_PORT\",\"status\":200'"
else
  echo "SKIP: the browser WebSocket checks need Debian's chromium and npm"
fi
listener_cond() {  # listener_cond LISTENER TYPE FIELD
  kubectl get gateway edge -o jsonpath="{.status.listeners[?(@.name==\"$1\")].conditions[?(@.type==\"$2\")].$3}"
}
check "listener shop Programmed" wait_for "programmed" 10 bash -c "[ \"\$(kubectl get gateway edge -o jsonpath='{.status.listeners[?(@.name==\"shop\")].conditions[?(@.type==\"Programmed\")].status}')\" = True ]"
check "listener wild: RefNotPermitted without a ReferenceGrant" bash -c "[ \"\$(kubectl get gateway edge -o jsonpath='{.status.listeners[?(@.name==\"wild\")].conditions[?(@.type==\"ResolvedRefs\")].reason}')\" = RefNotPermitted ]"
msg=$(listener_cond wild ResolvedRefs message)
check "the reason says which grant is missing" contains "$msg" "needs a ReferenceGrant in certs from Gateways in default to Secrets"
check "a name no granted certificate serves is refused" bash -c "! https api.example.com $WORK/wild.crt"

cat >"$WORK/grant.yaml" <<EOF
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: gateways-in-default, namespace: certs}
spec:
  from: [{group: gateway.networking.k8s.io, kind: Gateway, namespace: default}]
  to: [{group: "", kind: Secret, name: wildcard}]
EOF
check "kubectl apply a ReferenceGrant" kubectl apply -f "$WORK/grant.yaml"
check "kubectl get referencegrants" bash -c "kubectl get referencegrants -n certs | grep -q gateways-in-default"
check "with the grant the wildcard certificate serves api.example.com" wait_for "wildcard" 10 https api.example.com "$WORK/wild.crt"
check "the exact name still gets its own certificate" https shop.example.com "$WORK/shop.crt"
check "listener wild ResolvedRefs True" wait_for "resolved" 10 bash -c "[ \"\$(kubectl get gateway edge -o jsonpath='{.status.listeners[?(@.name==\"wild\")].conditions[?(@.type==\"ResolvedRefs\")].status}')\" = True ]"

# Renewing a certificate: the Secret is replaced, new connections get the new one.
check "replace the shop certificate" bash -c "kubectl create secret tls shop-cert --cert $WORK/shop2.crt --key $WORK/shop2.key --dry-run=client -o yaml | kubectl apply -f -"
check "new connections get the new certificate" wait_for "rotated" 10 https shop.example.com "$WORK/shop2.crt"

# HTTP to HTTPS.
loc=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' -H "Host: shop.example.com" "http://127.0.0.1:$HTTP_PORT/cart?id=7")
check "the HTTP listener redirects to HTTPS" test "$loc" = "301 https://shop.example.com:$TLS_PORT/cart?id=7"

# Plain HTTP on the HTTPS port gets no answer; the port keeps serving.
check "plain HTTP on the HTTPS port is refused" bash -c "! curl -s --max-time 3 -H 'Host: shop.example.com' http://127.0.0.1:$TLS_PORT/"
check "and HTTPS still works" https shop.example.com "$WORK/shop2.crt"
metrics=$(curl -s --cacert "$CA" -H "Authorization: Bearer $TOKEN" "$SERVER/metrics")
check "handshakes are counted" contains "$metrics" 'skiff_proxy_tls_handshakes_total{listener="gateway default/edge/shop",result="failed"}'

# Bad manifests are refused with the field and the reason.
out=$(kubectl apply -f - 2>&1 <<EOF || true
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: broken}
spec:
  gatewayClassName: skiff
  listeners: [{name: https, port: 9443, protocol: HTTPS}]
EOF
)
check "an HTTPS listener without tls is refused" contains "$out" 'spec.listeners\[0\].tls: Required value'
check "named by its kind, as kubectl shows Kubernetes' refusals" contains "$out" 'The Gateway "broken" is invalid'
out=$(kubectl apply -f - 2>&1 <<EOF || true
apiVersion: v1
kind: Secret
metadata: {name: half}
type: kubernetes.io/tls
stringData: {tls.crt: only-a-certificate}
EOF
)
check "a TLS Secret without a key is refused" contains "$out" 'data\[tls.key\]: Required value'
check "a TLS Secret written as stringData" bash -c "kubectl create secret tls from-strings --cert $WORK/shop.crt --key $WORK/shop.key --dry-run=client -o json | python3 -c 'import json,sys,base64; s=json.load(sys.stdin); s[\"stringData\"]={k: base64.b64decode(v).decode() for k,v in s.pop(\"data\").items()}; print(json.dumps(s))' | kubectl apply -f -"
check "is stored as data, as Kubernetes stores it" bash -c "kubectl get secret from-strings -o jsonpath='{.data.tls\\.crt}' | base64 -d | cmp - $WORK/shop.crt"
out=$(kubectl apply -f - 2>&1 <<EOF || true
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: empty, namespace: certs}
spec:
  from: [{group: gateway.networking.k8s.io, kind: Gateway}]
  to: []
EOF
)
check "a ReferenceGrant without a from namespace is refused" contains "$out" 'spec.from\[0\].namespace: Required value'
check "and without a to" contains "$out" 'spec.to: Required value'
# A missing Secret: the listener says so and the other listeners go on.
check "point the shop listener at a missing Secret" kubectl patch gateway edge --type=json -p '[{"op":"replace","path":"/spec/listeners/0/tls/certificateRefs/0/name","value":"nope"}]'
check "listener shop: InvalidCertificateRef" wait_for "invalid ref" 10 bash -c "[ \"\$(kubectl get gateway edge -o jsonpath='{.status.listeners[?(@.name==\"shop\")].conditions[?(@.type==\"ResolvedRefs\")].reason}')\" = InvalidCertificateRef ]"
msg=$(listener_cond shop ResolvedRefs message)
check "the message names the Secret" contains "$msg" "Secret default/nope does not exist"
check "shop.example.com falls to the wildcard listener" wait_for "wildcard for shop" 10 https shop.example.com "$WORK/wild.crt"
finish
