# Gateway listeners below HTTP, end to end with kubectl, curl and sockets: TLS passthrough where
# the client's SNI picks a TLSRoute and the pods terminate TLS with their own certificates (curl
# verifies them), a TLSRoute in the experimental channel's v1alpha2, a TLS listener that
# terminates with a Secret's certificate in front of a TCP pod, TCPRoute and UDPRoute ports,
# listener and route status, and refused manifests.
source "$(dirname "$0")/lib.sh"

TLS_PORT=$(free_port)
L4_PORT=$(free_port)
TERM_PORT=$(free_port)
cert() {  # cert NAME DNS-NAME: a self-signed certificate the pod serves
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=$2" \
    -addext "subjectAltName=DNS:$2" -keyout "$WORK/$1.key" -out "$WORK/$1.crt" 2>/dev/null
}
cert a a.example.com
cert b b.example.com
cert echo echo.example.com

cat >"$WORK/https.py" <<'EOF'
import http.server, os, ssl
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args): pass
    def do_GET(self):
        body = f"{os.environ['POD_NAME'].rsplit('-', 2)[0]} terminated TLS for {self.headers.get('host')}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
server = http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(os.environ["CERT"] + ".crt", os.environ["CERT"] + ".key")
server.socket = ctx.wrap_socket(server.socket, server_side=True)
server.serve_forever()
EOF
cat >"$WORK/echo.py" <<'EOF'
import os, socket, threading
port = int(os.environ["PORT"])
def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", int(os.environ["PORT_5300"])))
    while True:
        d, a = s.recvfrom(512)
        s.sendto(b"udp:" + d, a)
threading.Thread(target=udp, daemon=True).start()
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen()
while True:
    c, _ = srv.accept()
    data = c.recv(512)
    c.sendall(b"tcp:" + data)
    c.close()
EOF

start_skiff
check "kubectl create secret tls for the terminating listener" kubectl create secret tls echo-cert --cert "$WORK/echo.crt" --key "$WORK/echo.key"
deployment() {  # deployment NAME CERT
  cat <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: $1}
spec:
  replicas: 1
  selector: {matchLabels: {app: $1}}
  template:
    metadata: {labels: {app: $1}}
    spec:
      containers:
      - name: web
        image: busybox
        command: ["python3", "$WORK/https.py"]
        env: [{name: CERT, value: "$WORK/$2"}]
        ports: [{containerPort: 8443}]
        readinessProbe: {tcpSocket: {port: 8443}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: $1}
spec:
  selector: {app: $1}
  ports: [{name: https, port: 443, targetPort: 8443}]
---
EOF
}
{
  deployment site-a a
  deployment site-b b
  cat <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: echo}
spec:
  replicas: 1
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      containers:
      - name: echo
        image: busybox
        command: ["python3", "$WORK/echo.py"]
        ports: [{containerPort: 5000}, {containerPort: 5300, protocol: UDP}]
        readinessProbe: {tcpSocket: {port: 5000}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: echo}
spec:
  selector: {app: echo}
  ports: [{name: tcp, port: 5000}, {name: udp, port: 5300, protocol: UDP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: l4}
spec:
  gatewayClassName: skiff
  addresses: [{type: IPAddress, value: 127.0.0.1}]
  listeners:
  - {name: passthrough, port: $TLS_PORT, protocol: TLS, tls: {mode: Passthrough}}
  - {name: tcp, port: $L4_PORT, protocol: TCP}
  - {name: udp, port: $L4_PORT, protocol: UDP}
  - {name: terminate, port: $TERM_PORT, protocol: TLS, hostname: echo.example.com, tls: {mode: Terminate, certificateRefs: [{name: echo-cert}]}}
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: {name: echo-tls}
spec:
  parentRefs: [{name: l4, sectionName: terminate}]
  rules: [{backendRefs: [{name: echo, port: 5000}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata: {name: site-a}
spec:
  parentRefs: [{name: l4, sectionName: passthrough}]
  hostnames: [a.example.com]
  rules: [{backendRefs: [{name: site-a, port: 443}]}]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata: {name: site-b}
spec:
  parentRefs: [{name: l4, sectionName: passthrough}]
  hostnames: ["*.example.com"]
  rules: [{backendRefs: [{name: site-b, port: 443}]}]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: {name: echo}
spec:
  parentRefs: [{name: l4, sectionName: tcp}]
  rules: [{backendRefs: [{name: echo, port: 5000}]}]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: UDPRoute
metadata: {name: echo}
spec:
  parentRefs: [{name: l4, sectionName: udp}]
  rules: [{backendRefs: [{name: echo, port: 5300}]}]
EOF
} >"$WORK/app.yaml"
check "apply the pods, a Gateway with TLS, TCP and UDP listeners, and their routes" kubectl apply -f "$WORK/app.yaml"
ready() { [ "$(kubectl get deploy "$1" -o jsonpath='{.status.readyReplicas}')" = 1 ]; }
for d in site-a site-b echo; do check "$d ready" wait_for "$d ready" 40 ready $d; done

https() {  # https HOST: GET through the passthrough port, checking the pod's own certificate
  curl -sS --max-time 5 --cacert "$WORK/$2.crt" --resolve "$1:$TLS_PORT:127.0.0.1" "https://$1:$TLS_PORT/"
}
answers() { https a.example.com a >/dev/null 2>&1; }
check "the passthrough port answers" wait_for "passthrough" 20 answers
out=$(https a.example.com a 2>&1 || true)
check "SNI a.example.com reaches site-a, which terminates TLS with its certificate" test "$out" = "site-a terminated TLS for a.example.com:$TLS_PORT"
out=$(curl -sS --max-time 5 -k --resolve "b.example.com:$TLS_PORT:127.0.0.1" "https://b.example.com:$TLS_PORT/" -w ' %{ssl_verify_result}' 2>&1 || true)
check "the wildcard TLSRoute (v1alpha2) takes b.example.com to site-b" contains "$out" "^site-b terminated TLS for b.example.com"
out=$(echo | openssl s_client -connect 127.0.0.1:$TLS_PORT -servername b.example.com 2>/dev/null | openssl x509 -noout -subject 2>/dev/null || true)
check "the certificate the client sees is the pod's ($out)" contains "$out" "CN *= *b.example.com"
out=$(curl -sS --max-time 5 -k --resolve "c.other.org:$TLS_PORT:127.0.0.1" "https://c.other.org:$TLS_PORT/" 2>&1 || true)
check "a name no TLSRoute takes is refused at the handshake" lacks "$out" "terminated TLS"
out=$(curl -sS --max-time 5 "http://127.0.0.1:$TLS_PORT/" 2>&1 || true)
check "plain HTTP on the passthrough port is closed" lacks "$out" "terminated TLS"

tcp() { python3 -c "import socket; s=socket.create_connection(('127.0.0.1', $L4_PORT), timeout=2); s.sendall(b'$1'); print(s.recv(64).decode())"; }
udp() { python3 -c "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.5); s.sendto(b'$1', ('127.0.0.1', $L4_PORT)); print(s.recvfrom(64)[0].decode())"; }
tcp_ok() { [ "$(tcp hello 2>/dev/null)" = tcp:hello ]; }
udp_ok() { [ "$(udp hello 2>/dev/null)" = udp:hello ]; }
check "TCPRoute: bytes reach the pod and back" wait_for "tcp route" 20 tcp_ok
check "UDPRoute: datagrams on the same port number reach the pod and back" wait_for "udp route" 20 udp_ok

tls_tcp() {  # TLS with the listener's certificate (verified), clear text to the pod
  python3 - "$TERM_PORT" "$WORK/echo.crt" "$1" <<'PYEOF'
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3) as raw:
    with ctx.wrap_socket(raw, server_hostname="echo.example.com") as s:
        s.sendall(sys.argv[3].encode())
        print(s.recv(64).decode(), s.version())
PYEOF
}
tls_tcp_ok() { tls_tcp ping 2>/dev/null | grep -q "^tcp:ping TLS"; }
check "TLS Terminate + TCPRoute: the Gateway's certificate, then clear bytes to the pod" wait_for "tls terminate" 20 tls_tcp_ok

# Status, as kubectl shows it.
cond() {  # cond RESOURCE NAME TYPE -> status of the first parent's condition
  kubectl get "$1" "$2" -o jsonpath="{.status.parents[0].conditions[?(@.type==\"$3\")].status}"
}
for r in "tlsroute site-a" "tlsroute site-b" "tcproute echo" "udproute echo" "tcproute echo-tls"; do
  check "$r Accepted" bash -c "[ \"\$(kubectl get $r -o jsonpath='{.status.parents[0].conditions[?(@.type==\"Accepted\")].status}')\" = True ]"
done
out=$(kubectl get gateway l4 -o jsonpath='{range .status.listeners[*]}{.name}={.attachedRoutes}:{.supportedKinds[0].kind} {end}' || true)
check "listeners count their routes and say which kinds they take ($out)" test "$out" = "passthrough=2:TLSRoute tcp=1:TCPRoute udp=1:UDPRoute terminate=1:TLSRoute "
out=$(kubectl get tlsroutes,tcproutes,udproutes 2>&1 || true)
check "skiff's own CLI finds kinds only served in v1alpha2" bash -c "\"$SKIFF\" get tcproutes | grep -q '^echo '"
check "kubectl get tlsroutes,tcproutes,udproutes" bash -c "grep -q 'a.example.com' <<<\"\$0\" && grep -q 'tcproute.*/echo' <<<\"\$0\"" "$out"
out=$(kubectl get tlsroute.v1alpha2.gateway.networking.k8s.io site-a -o jsonpath='{.apiVersion}' || true)
check "a TLSRoute reads back in either version" test "$out" = "gateway.networking.k8s.io/v1alpha2"

# An HTTPRoute cannot attach to the TLS listener; Terminate mode is not served.
check "apply an HTTPRoute aimed at the TLS listener" kubectl apply -f - <<EOF
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: misplaced}
spec:
  parentRefs: [{name: l4, sectionName: passthrough}]
  rules: [{backendRefs: [{name: site-a, port: 443}]}]
EOF
notallowed() { [ "$(kubectl get httproute misplaced -o jsonpath='{.status.parents[0].conditions[?(@.type=="Accepted")].reason}')" = NotAllowedByListeners ]; }
check "an HTTPRoute on a TLS listener: NotAllowedByListeners" wait_for "misplaced route" 10 notallowed

cat >"$WORK/bad.yaml" <<EOF
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata: {name: bad}
spec:
  parentRefs: [{name: l4}]
  hostnames: ["10.0.0.1"]
  rules: [{backendRefs: [{name: site-a}]}]
EOF
out=$(kubectl apply -f "$WORK/bad.yaml" 2>&1 || true)
check "an IP address as an SNI name is refused with its field" contains "$out" 'spec.hostnames\[0\]'
check "a backendRef without a port is refused with its field" contains "$out" 'spec.rules\[0\].backendRefs\[0\].port'
finish
