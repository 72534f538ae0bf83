# The node proxy end to end with the process runtime: Services by cluster IP, a Gateway with an
# HTTPRoute canary split and header routing, retries around a failing pod, readiness removal,
# circuit breaking, Gateway API status, bad input, RED metrics and the access log.
source "$(dirname "$0")/lib.sh"

GW_PORT=$(free_port)
FLAGS="$WORK/flags"
mkdir -p "$FLAGS"
# A pod's HTTP server: answers "VERSION POD"; flag files make it fail (503) or unready.
cat >"$WORK/server.py" <<'EOF'
import http.server, os, sys, time
pod, version, flags = os.environ["POD_NAME"], os.environ.get("VERSION", "v0"), sys.argv[1]
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args): pass
    def do_GET(self):
        if self.path == "/healthz":
            code = 503 if os.path.exists(f"{flags}/unready-{pod}") else 200
        else:
            code = 503 if os.path.exists(f"{flags}/fail-{pod}") else 200
        if self.path.startswith("/slow"): time.sleep(1)
        if self.headers.get("Host", "").split(":")[0].endswith("-shadow"):  # a RequestMirror copy
            with open(f"{flags}/shadow-{pod}", "a") as f: f.write(self.path + "\n")
        body = f"{version} {pod} {self.headers.get('traceparent', '-')}\n".encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
EOF

deployment() {  # deployment NAME VERSION REPLICAS
  cat <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: $1}
spec:
  replicas: $3
  selector: {matchLabels: {app: $1}}
  template:
    metadata: {labels: {app: $1, tier: web}}
    spec:
      containers:
      - name: web
        image: busybox
        command: ["python3", "$WORK/server.py", "$FLAGS"]
        env: [{name: VERSION, value: "$2"}]
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 1, failureThreshold: 1}
---
apiVersion: v1
kind: Service
metadata:
  name: $1
  annotations: {skiff.dev/retry-on: "gateway-error,connect-failure", skiff.dev/retries: "2", skiff.dev/outlier-consecutive-errors: "0"}
spec:
  selector: {app: $1}
  ports: [{name: http, port: 80, targetPort: http}]
---
EOF
}

# An OTLP/HTTP collector stand-in: stores each export it receives as one line.
OTLP_PORT=$(free_port)
cat >"$WORK/collector.py" <<'EOF'
import http.server, sys
out = sys.argv[2]
class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args): pass
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open(out, "ab") as f: f.write(body + b"\n")
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"{}")
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
EOF
python3 "$WORK/collector.py" "$OTLP_PORT" "$WORK/spans.jsonl" &
COLLECTOR=$!
trap 'kill $COLLECTOR 2>/dev/null || true; cleanup' EXIT

start_skiff --proxy-workers 2 --otlp-endpoint "http://127.0.0.1:$OTLP_PORT"
{
  deployment web-v1 v1 2
  deployment web-v2 v2 1
  cat <<EOF
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
metadata: {name: shop}
spec:
  parentRefs: [{name: edge}]
  rules:
  - backendRefs: [{name: web-v1, port: 80, weight: 90}, {name: web-v2, port: 80, weight: 10}]
  - matches: [{headers: [{name: x-canary, value: "1"}]}]
    backendRefs: [{name: web-v2, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /gone}}]
    backendRefs: [{name: no-such-service, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /mirrored}}]
    backendRefs: [{name: web-v1, port: 80}]
    filters: [{type: RequestMirror, requestMirror: {backendRef: {name: web-v2, port: 80}}}]
EOF
} >"$WORK/app.yaml"
check "apply the app, a Gateway and an HTTPRoute" kubectl apply -f "$WORK/app.yaml"
ready() { [ "$(kubectl get deploy "$1" -o jsonpath='{.status.readyReplicas}')" = "$2" ]; }
check "v1 ready" wait_for "web-v1 ready" 30 ready web-v1 2
check "v2 ready" wait_for "web-v2 ready" 30 ready web-v2 1
GW="http://127.0.0.1:$GW_PORT"
check "the gateway answers" wait_for "gateway" 10 curl -sf "$GW/"

# Gateway API status, as kubectl shows it.
check "Gateway is Programmed" wait_for "programmed" 10 bash -c "kubectl get gateway edge -o jsonpath='{.status.conditions[?(@.type==\"Programmed\")].status}' | grep -qx True"
check "listener counts its route" bash -c "[ \"\$(kubectl get gateway edge -o jsonpath='{.status.listeners[0].attachedRoutes}')\" = 1 ]"
check "HTTPRoute Accepted" bash -c "kubectl get httproute shop -o jsonpath='{.status.parents[0].conditions[?(@.type==\"Accepted\")].status}' | grep -qx True"
check "missing backend: ResolvedRefs False BackendNotFound" bash -c "kubectl get httproute shop -o jsonpath='{.status.parents[0].conditions[?(@.type==\"ResolvedRefs\")].reason}' | grep -qx BackendNotFound"
check "a request for the missing backend gets 500" bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $GW/gone)\" = 500 ]"
check "kubectl get gateways,httproutes" bash -c "kubectl get gateways,httproutes | grep -q edge"

# Canary split over 2,000 requests on one keep-alive connection.
urls=$(printf "$GW/ %.0s" $(seq 1 2000))
out=$(curl -s $urls)
v2=$(grep -c '^v2 ' <<<"$out" || true)
v1=$(grep -c '^v1 ' <<<"$out" || true)
check "2000 answers" test "$((v1 + v2))" -eq 2000
check "90/10 split (v2 got $v2 of 2000)" test "$v2" -ge 150 -a "$v2" -le 250
check "header match routes only to v2" bash -c "! curl -s -H 'x-canary: 1' $(printf "$GW/ %.0s" $(seq 1 50)) | grep -q '^v1 '"
check "traceparent reaches the pod" bash -c "curl -s $GW/ | grep -Eq ' 00-[0-9a-f]{32}-[0-9a-f]{16}-01$'"

# RequestMirror: v1 answers every request; v2 gets a copy of each (Host marked -shadow).
out=$(curl -s $(printf "$GW/mirrored/%d " $(seq 1 5)) || true)
check "mirrored requests are answered by their backend only" test "$(grep -c '^v1 ' <<<"$out" || true)" -eq 5
mirrored() { [ "$(cat "$FLAGS"/shadow-web-v2-* 2>/dev/null | grep -c '^/mirrored/')" -eq 5 ]; }
check "the mirror's pod got a copy of each" wait_for "5 mirrored copies" 10 mirrored

# Pods reach the Service by cluster IP; both v1 replicas take turns.
IP=$(kubectl get svc web-v1 -o jsonpath='{.spec.clusterIP}')
out=$(curl -s $(printf "http://$IP/ %.0s" $(seq 1 20)))
check "cluster IP spreads over both v1 pods" test "$(awk '{print $2}' <<<"$out" | sort -u | wc -l)" -eq 2

# A failing pod: retries hide it.
POD=$(kubectl get pods -l app=web-v1 -o jsonpath='{.items[0].metadata.name}')
touch "$FLAGS/fail-$POD"
codes=$(for _ in $(seq 1 30); do curl -s -o /dev/null -w '%{http_code}\n' "http://$IP/"; done | sort | uniq -c)
check "retries turn a failing pod's 503s into 200s" bash -c "[ \"\$(echo '$codes' | awk '{print \$2}' | sort -u)\" = 200 ]"
rm -f "$FLAGS/fail-$POD"
# Readiness: an unready pod leaves the endpoints and gets no traffic.
touch "$FLAGS/unready-$POD"
check "unready pod leaves the endpoints" wait_for "endpoints shrink" 15 bash -c "[ \"\$(kubectl get endpoints web-v1 -o jsonpath='{.subsets[0].addresses[*].ip}' | wc -w)\" = 1 ]"
sleep 0.3
out=$(curl -s $(printf "http://$IP/ %.0s" $(seq 1 20)))
check "no traffic to the unready pod" lacks "$out" "$POD"
rm -f "$FLAGS/unready-$POD"

# Circuit breaker: one connection, no queue; a second concurrent request is refused.
kubectl annotate svc web-v2 skiff.dev/max-connections=1 skiff.dev/max-pending-requests=0 >/dev/null
IP2=$(kubectl get svc web-v2 -o jsonpath='{.spec.clusterIP}')
sleep 0.5
curl -s -o /dev/null "http://$IP2/slow" &
SLOW=$!
sleep 0.3
hdrs=$(curl -s -i "http://$IP2/slow")
wait $SLOW
check "circuit breaker answers 503 overloaded" contains "$hdrs" "x-skiff-overloaded: true"

# Autoscaling on the proxy's requests per second per pod.
kubectl apply -f - >/dev/null <<EOF
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web-v2}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web-v2}
  minReplicas: 1
  maxReplicas: 3
  metrics:
  - type: Pods
    pods: {metric: {name: http_requests_per_second}, target: {type: AverageValue, averageValue: "5"}}
EOF
kubectl annotate svc web-v2 skiff.dev/max-connections- skiff.dev/max-pending-requests- >/dev/null
IP2=$(kubectl get svc web-v2 -o jsonpath='{.spec.clusterIP}')
( end=$((SECONDS + 25)); while [ $SECONDS -lt $end ]; do curl -s -o /dev/null "http://$IP2/"; done ) &
LOAD=$!
check "traffic per pod above the target scales web-v2 up" wait_for "rps scale-up" 30 bash -c "[ \"\$(kubectl get deploy web-v2 -o jsonpath='{.spec.replicas}')\" -ge 2 ]"
wait $LOAD
out=$(kubectl get hpa web-v2)
check "kubectl get hpa shows requests per second against the target" contains "$out" "http_requests_per_second: [0-9]*m/5"

# UDP Services: datagrams to the cluster IP reach a pod and the answers come back.
kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: udp-echo, labels: {app: udp-echo}}
spec:
  containers:
  - name: echo
    image: busybox
    command: ["python3", "-c", "import os,socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', int(os.environ['PORT']))); [s.sendto(b'echo:'+d, a) for d, a in iter(lambda: s.recvfrom(512), None)]"]
    ports: [{name: dns, containerPort: 5353, protocol: UDP}]
---
apiVersion: v1
kind: Service
metadata: {name: udp-echo}
spec:
  selector: {app: udp-echo}
  ports: [{name: dns, port: 53, targetPort: 5353, protocol: UDP}]
EOF
UIP=$(kubectl get svc udp-echo -o jsonpath='{.spec.clusterIP}')
check "a UDP Service answers through its cluster IP" wait_for "udp echo" 20 bash -c "python3 -c \"import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.2); s.sendto(b'ping', ('$UIP', 53)); print(s.recvfrom(512)[0].decode())\" | grep -q echo:ping"

# Bad input gets a reason.
out=$(kubectl annotate svc web-v1 skiff.dev/timeout=soon 2>&1 || true)
check "a policy that does not parse is refused with its field" contains "$out" "metadata.annotations\[skiff.dev/timeout\]"
out=$(printf 'GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n' | curl -s --max-time 3 telnet://127.0.0.1:$GW_PORT || true)
check "a smuggling attempt gets 400" contains "$out" "HTTP/1.1 400"
check "the gateway still serves" curl -sf "$GW/"

# Metrics and access log.
metrics=$(curl -s --cacert "$CA" -H "Authorization: Bearer $TOKEN" "$SERVER/metrics")
check "RED metrics per route" contains "$metrics" 'skiff_http_requests_total{route="default/shop/0"'
check "duration histogram" contains "$metrics" 'skiff_http_request_duration_seconds_bucket{route="default/shop/0"'
check "retries are counted" contains "$metrics" 'skiff_proxy_events_total{cluster="default/web-v1:80",event="retry"}'
check "mirrored copies are counted" contains "$metrics" 'skiff_proxy_mirror_requests_total{cluster="default/web-v2:80",result="completed"} 5'
check "access log lines are JSON" wait_for "access log" 5 bash -c "grep -q '\"status\":200' '$WORK/data/logs/proxy-access.log' && tail -1 '$WORK/data/logs/proxy-access.log' | python3 -m json.tool"

# Spans: the proxy continues the caller's trace; API requests are spans too.
curl -s -o /dev/null -H 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' "$GW/"
check "proxy span exported with the caller's trace id" wait_for "span" 5 grep -q '"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"[0-9a-f]*","name":"GET default/shop/0"' "$WORK/spans.jsonl"
check "its parent is the caller's span" grep -q '"parentSpanId":"00f067aa0ba902b7"' "$WORK/spans.jsonl"
check "API requests are exported as spans" grep -q '"stringValue":"apiserver"' "$WORK/spans.jsonl"

finish
