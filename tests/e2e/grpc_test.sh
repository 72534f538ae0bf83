# HTTP/2 and gRPC through the node proxy (process runtime): a real gRPC client (Debian's
# python3-grpcio) on one channel — one HTTP/2 connection — reaches a Service whose port is named
# grpc; the proxy spreads its calls over every pod per request, passes server streaming, status
# and trailers, large messages (flow control) and routes; HTTP/1.1 ports refuse HTTP/2 clearly.
# A Gateway with a GRPCRoute routes calls by gRPC service, method and metadata (headers).
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
if ! $PY -c 'import grpc' 2>/dev/null; then echo "python3-grpcio missing: skipping"; echo "0 passed, 0 failed"; exit 0; fi

cat >"$WORK/server.py" <<'PYEOF'
import grpc, os, time
from concurrent import futures
pod = os.environ["POD_NAME"].encode()
def say(request, context):
    return pod + b" " + request
def fail(request, context):
    context.abort(grpc.StatusCode.NOT_FOUND, "no such item: " + request.decode())
def count(request, context):
    for i in range(int(request)):
        yield b"%d" % i
def sleep(request, context):
    time.sleep(float(request))
    return b"late"
handlers = {"Say": grpc.unary_unary_rpc_method_handler(say), "Fail": grpc.unary_unary_rpc_method_handler(fail),
            "Count": grpc.unary_stream_rpc_method_handler(count), "Sleep": grpc.unary_unary_rpc_method_handler(sleep)}
server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), options=[("grpc.max_receive_message_length", 8 << 20)])
server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("echo.Echo", handlers)])
server.add_insecure_port("127.0.0.1:" + os.environ["PORT"])
server.start()
server.wait_for_termination()
PYEOF

cat >"$WORK/client.py" <<'PYEOF'
import grpc, sys, collections
target, what = sys.argv[1], sys.argv[2]
opts = [("grpc.max_receive_message_length", 8 << 20), ("grpc.max_send_message_length", 8 << 20)]
if target.startswith("tls:"):  # tls:HOST:PORT:CA-FILE: TLS to a Gateway HTTPS listener as grpc.example.com
    _, host, port, ca = target.split(":", 3)
    creds = grpc.ssl_channel_credentials(root_certificates=open(ca, "rb").read())
    ch = grpc.secure_channel(host + ":" + port, creds, options=opts + [("grpc.ssl_target_name_override", "grpc.example.com")])
else:
    ch = grpc.insecure_channel(target, options=opts)
grpc.channel_ready_future(ch).result(timeout=10)
call = lambda m: ch.unary_unary("/echo.Echo/" + m)
if what == "spread":
    pods = collections.Counter(call("Say")(b"hi", timeout=5).split()[0] for _ in range(300))
    print(len(pods), min(pods.values()), sum(pods.values()))
elif what == "stream":
    print(",".join(x.decode() for x in ch.unary_stream("/echo.Echo/Count")(b"5", timeout=5)))
elif what == "fail":
    try:
        call("Fail")(b"socks", timeout=5)
    except grpc.RpcError as e:
        print(e.code().name, e.details())
elif what == "big":
    data = bytes(range(256)) * 4096 * 3  # 3 MiB
    out = call("Say")(data, timeout=20)
    print(len(out) - len(data) > 0 and out.endswith(data))
elif what == "timeout":
    try:
        call("Sleep")(b"3", timeout=10)
    except grpc.RpcError as e:
        print(e.code().name, e.details())
elif what == "who":
    # which pods answer Say, with metadata given as k=v arguments
    md = [tuple(a.split("=", 1)) for a in sys.argv[3:]]
    print(" ".join(sorted(set(call("Say")(b"hi", timeout=5, metadata=md).split()[0].decode().rsplit("-", 2)[0] for _ in range(20)))))
elif what == "count":
    print(",".join(x.decode() for x in ch.unary_stream("/echo.Echo/Count")(b"3", timeout=5)))
elif what == "unknown":
    try:
        call("Nope")(b"", timeout=5)
    except grpc.RpcError as e:
        print(e.code().name)
PYEOF

start_skiff --proxy-workers 2
GW_PORT=$(free_port)
TLS_PORT=$(free_port)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=grpc.example.com" \
  -addext "subjectAltName=DNS:grpc.example.com" -keyout "$WORK/grpc.key" -out "$WORK/grpc.crt" 2>/dev/null
check "kubectl create secret tls" kubectl create secret tls grpc-cert --cert "$WORK/grpc.crt" --key "$WORK/grpc.key"
cat >"$WORK/app.yaml" <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: echo}
spec:
  replicas: 3
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      containers:
      - name: echo
        image: busybox
        command: ["$PY", "$WORK/server.py"]
        ports: [{name: grpc, containerPort: 50051}]
        readinessProbe: {tcpSocket: {port: 50051}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: echo}
spec:
  selector: {app: echo}
  ports: [{name: grpc, port: 50051, targetPort: grpc}]
---
apiVersion: v1
kind: Service
metadata:
  name: echo-slow
  annotations: {skiff.dev/timeout: "1s"}
spec:
  selector: {app: echo}
  ports: [{port: 50051, targetPort: grpc, appProtocol: kubernetes.io/h2c}]
---
apiVersion: v1
kind: Service
metadata: {name: plain}
spec:
  selector: {app: echo}
  ports: [{name: http, port: 8080, targetPort: grpc}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: canary}
spec:
  replicas: 1
  selector: {matchLabels: {app: canary}}
  template:
    metadata: {labels: {app: canary}}
    spec:
      containers:
      - name: echo
        image: busybox
        command: ["$PY", "$WORK/server.py"]
        ports: [{containerPort: 50051}]
        readinessProbe: {tcpSocket: {port: 50051}, periodSeconds: 1}
---
# Its port says nothing about gRPC: a GRPCRoute's backend is spoken to over h2c all the same.
apiVersion: v1
kind: Service
metadata: {name: canary}
spec:
  selector: {app: canary}
  ports: [{port: 7000, targetPort: 50051}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: rpc}
spec:
  gatewayClassName: skiff
  addresses: [{type: IPAddress, value: 127.0.0.1}]
  listeners:
  - {name: h2c, port: $GW_PORT, protocol: HTTP}
  - {name: tls, port: $TLS_PORT, protocol: HTTPS, hostname: grpc.example.com, tls: {certificateRefs: [{name: grpc-cert}]}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: echo}
spec:
  parentRefs: [{name: rpc}]
  rules:
  - matches: [{method: {service: echo.Echo, method: Say}, headers: [{name: x-canary, value: "1"}]}]
    backendRefs: [{name: canary, port: 7000}]
  - matches: [{method: {service: echo.Echo}}]
    backendRefs: [{name: echo, port: 50051}]
  - matches: [{method: {type: RegularExpression, service: 'gone\\..*'}}]
    backendRefs: [{name: no-such-service, port: 1}]
EOF
check "apply a gRPC service" kubectl apply -f "$WORK/app.yaml"
ready() { [ "$(kubectl get deploy echo -o jsonpath='{.status.readyReplicas}')" = 3 ]; }
check "3 pods ready" wait_for "echo ready" 40 ready
IP=$(kubectl get svc echo -o jsonpath='{.spec.clusterIP}')
SLOW=$(kubectl get svc echo-slow -o jsonpath='{.spec.clusterIP}')
PLAIN=$(kubectl get svc plain -o jsonpath='{.spec.clusterIP}')
answers() { $PY "$WORK/client.py" "$IP:50051" stream >/dev/null 2>&1; }
check "the service answers gRPC" wait_for "grpc" 20 answers

out=$($PY "$WORK/client.py" "$IP:50051" spread 2>&1)
read -r pods least total <<<"$out"
check "300 calls on one channel reach all 3 pods ($out)" test "${pods:-0}" = 3 -a "${total:-0}" = 300
check "spread per request, not per connection (least $least of 300)" test "${least:-0}" -ge 60
out=$($PY "$WORK/client.py" "$IP:50051" stream 2>&1)
check "server streaming passes" test "$out" = "0,1,2,3,4"
out=$($PY "$WORK/client.py" "$IP:50051" fail 2>&1)
check "gRPC status and message (trailers) pass" test "$out" = "NOT_FOUND no such item: socks"
out=$($PY "$WORK/client.py" "$IP:50051" unknown 2>&1)
check "unimplemented method from the server" test "$out" = "UNIMPLEMENTED"
out=$($PY "$WORK/client.py" "$IP:50051" big 2>&1)
check "3 MiB each way through flow control" test "$out" = "True"
out=$($PY "$WORK/client.py" "$SLOW:50051" timeout 2>&1)
check "route timeout: DEADLINE_EXCEEDED from the proxy" contains "$out" "DEADLINE_EXCEEDED upstream request timeout"
out=$($PY "$WORK/client.py" "$PLAIN:8080" unknown 2>&1)
check "HTTP/2 to an HTTP/1.1 port is refused" contains "$out" "UNAVAILABLE\|INTERNAL\|UNKNOWN"
# GRPCRoute on a Gateway.
ready_canary() { [ "$(kubectl get deploy canary -o jsonpath='{.status.readyReplicas}')" = 1 ]; }
check "canary ready" wait_for "canary ready" 40 ready_canary
GW="127.0.0.1:$GW_PORT"
via_gw() { $PY "$WORK/client.py" "$GW" count >/dev/null 2>&1; }
check "the Gateway answers gRPC" wait_for "gateway grpc" 20 via_gw
check "GRPCRoute Accepted" bash -c "kubectl get grpcroute echo -o jsonpath='{.status.parents[0].conditions[?(@.type==\"Accepted\")].status}' | grep -qx True"
check "missing backend: ResolvedRefs BackendNotFound" bash -c "kubectl get grpcroute echo -o jsonpath='{.status.parents[0].conditions[?(@.type==\"ResolvedRefs\")].reason}' | grep -qx BackendNotFound"
check "both listeners count the GRPCRoute" bash -c "[ \"\$(kubectl get gateway rpc -o jsonpath='{.status.listeners[*].attachedRoutes}')\" = '1 1' ]"
check "kubectl get grpcroutes" bash -c "kubectl get grpcroutes | grep -q '^echo '"
out=$($PY "$WORK/client.py" "$GW" who 2>&1)
check "service match: calls reach the echo pods ($out)" test "$out" = "echo"
out=$($PY "$WORK/client.py" "$GW" who x-canary=1 2>&1)
check "method and metadata match: the canary, over h2c to an unnamed port ($out)" test "$out" = "canary"
out=$($PY "$WORK/client.py" "$GW" count 2>&1)
check "streaming through the GRPCRoute" test "$out" = "0,1,2"
out=$($PY "$WORK/client.py" "tls:127.0.0.1:$TLS_PORT:$WORK/grpc.crt" who x-canary=1 2>&1)
check "gRPC over TLS (ALPN h2) on the HTTPS listener, routed by the same GRPCRoute ($out)" test "$out" = "canary"
cat >"$WORK/bad-route.yaml" <<EOF
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: bad}
spec:
  parentRefs: [{name: rpc}]
  rules: [{matches: [{method: {service: "echo/Echo", method: Say}}], backendRefs: [{name: echo, port: 50051}]}]
EOF
out=$(kubectl apply -f "$WORK/bad-route.yaml" 2>&1 || true)
check "a bad service name is refused with its field" contains "$out" 'spec.rules\[0\].matches\[0\].method.service'

out=$(curl -sS --cacert "$CA" -H "Authorization: Bearer $TOKEN" "$SERVER/metrics")
check "gRPC requests in the RED metrics" contains "$out" 'skiff_http_requests_total{route="default/echo".*code="200"} [0-9]'
kubectl delete -f "$WORK/app.yaml" --wait=false >/dev/null
finish
