#!/usr/bin/env bash
# Ingress as Helm charts use it: the default `skiff` IngressClass, host and path rules (Prefix,
# Exact), a Service port by number or by name, a default backend, TLS by SNI from a Secret, the
# node's address in status, kubectl's columns, and the manifests Kubernetes refuses.
source "$(dirname "$0")/lib.sh"
HTTP_PORT=$(free_port)
HTTPS_PORT=$(free_port)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=shop.example.com" \
  -addext "subjectAltName=DNS:shop.example.com" -keyout "$WORK/shop.key" -out "$WORK/shop.crt" 2>/dev/null
cat >"$WORK/server.py" <<'PY'
import http.server, os
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args): pass
    def do_GET(self):
        body = f"{os.environ['APP']} {self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
PY
start_skiff --ingress-http-port "$HTTP_PORT" --ingress-https-port "$HTTPS_PORT"
K() { kubectl --request-timeout=20s "$@"; }

out=$(K get ingressclass 2>&1 || true)
check "the skiff IngressClass is there" contains "$out" "skiff  *skiff.dev/ingress-controller"
check "… and is the default" test "$(K get ingressclass skiff -o jsonpath='{.metadata.annotations.ingressclass\.kubernetes\.io/is-default-class}')" = true
K create secret tls shop-cert --cert "$WORK/shop.crt" --key "$WORK/shop.key" >/dev/null
for app in web api; do
  cat <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: $app}
spec:
  replicas: 1
  selector: {matchLabels: {app: $app}}
  template:
    metadata: {labels: {app: $app}}
    spec:
      containers:
      - name: $app
        image: busybox
        command: ["python3", "$WORK/server.py"]
        env: [{name: APP, value: $app}]
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: $app}
spec:
  selector: {app: $app}
  ports: [{name: http, port: 80, targetPort: http}]
---
YAML
done >"$WORK/apps.yaml"
K apply -f "$WORK/apps.yaml" >/dev/null
cat >"$WORK/ingress.yaml" <<'YAML'
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: site}
spec:
  tls: [{hosts: [shop.example.com], secretName: shop-cert}]
  defaultBackend: {service: {name: web, port: {number: 80}}}
  rules:
  - host: shop.example.com
    http:
      paths:
      - {path: /api, pathType: Prefix, backend: {service: {name: api, port: {name: http}}}}
      - {path: /exact, pathType: Exact, backend: {service: {name: api, port: {number: 80}}}}
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
YAML
out=$(K apply -f "$WORK/ingress.yaml" 2>&1 || true)
check "kubectl apply creates the Ingress" contains "$out" "ingress.networking.k8s.io/site created"
check "the default class is written into it, as Kubernetes' admission does" test "$(K get ingress site -o jsonpath='{.spec.ingressClassName}')" = skiff
ready() { [ "$(K get deploy web api -o jsonpath='{.items[*].status.readyReplicas}')" = "1 1" ]; }
check "backends ready" wait_for "backends" 30 ready

get() { curl -sS --max-time 5 -H "Host: $1" "http://127.0.0.1:$HTTP_PORT$2"; }
served() { [ "$(get shop.example.com /api/x 2>/dev/null)" = "api /api/x" ]; }
check "a Prefix rule with a named Service port" wait_for "ingress serves" 15 served
check "the / rule" test "$(get shop.example.com /shop 2>&1)" = "web /shop"
check "an Exact rule matches only its path" test "$(get shop.example.com /exact 2>&1)" = "api /exact"
check "… not below it" test "$(get shop.example.com /exact/more 2>&1)" = "web /exact/more"
check "another host gets the default backend" test "$(get other.example.org /x 2>&1)" = "web /x"
out=$(curl -sS --max-time 5 --resolve "shop.example.com:$HTTPS_PORT:127.0.0.1" --cacert "$WORK/shop.crt" "https://shop.example.com:$HTTPS_PORT/api/tls" 2>&1 || true)
check "HTTPS with the Secret's certificate (SNI)" test "$out" = "api /api/tls"
lb() { [ "$(K get ingress site -o jsonpath='{.status.loadBalancer.ingress[0].ip}')" = 127.0.0.1 ]; }
check "status shows the node's address" wait_for "status" 10 lb
out=$(K get ingress site 2>&1 || true)
check "kubectl get ingress columns" contains "$out" "site  *skiff  *shop.example.com  *127.0.0.1  *80, 443"

# A class skiff does not serve is left alone.
sed 's/name: site/name: other/; s/^spec:/spec:\n  ingressClassName: nginx/' "$WORK/ingress.yaml" | sed 's/shop.example.com/nginx.example.com/g' | K apply -f - >/dev/null 2>&1 || true
check "an Ingress of another class is not served" test "$(get nginx.example.com /api/x 2>&1)" = "web /api/x"
# What Kubernetes refuses.
bad() { printf 'apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: bad}\nspec: %s\n' "$1" | K apply -f - 2>&1 || true; }
out=$(bad '{rules: [{http: {paths: [{path: /x, backend: {service: {name: web, port: {number: 80}}}}]}}]}')
check "pathType is required" contains "$out" "spec.rules\[0\].http.paths\[0\].pathType: Required value"
out=$(bad '{}')
check "a backend is required" contains "$out" "either \`defaultBackend\` or \`rules\` must be specified"
out=$(bad '{defaultBackend: {service: {name: web, port: {number: 70000}}}}')
check "port numbers are checked" contains "$out" "spec.defaultBackend.service.port.number: Invalid value: 70000"
# An Ingress to a Service that does not exist answers an error, and the proxy keeps serving.
printf 'apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: ghost}\nspec:\n  rules: [{host: ghost.example.com, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: nope, port: {number: 80}}}}]}}]\n' | K apply -f - >/dev/null
sleep 1
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Host: ghost.example.com" "http://127.0.0.1:$HTTP_PORT/" || true)
check "a missing Service is a 5xx" bash -c "[[ '$code' == 5* ]]"
check "… and the rest still works" test "$(get shop.example.com /api/y 2>&1)" = "api /api/y"
K delete ingress site >/dev/null
gone() { [ "$(get shop.example.com /api/x 2>/dev/null)" != "api /api/x" ]; }
check "a deleted Ingress is no longer served" wait_for "unserved" 10 gone
finish
