#!/usr/bin/env bash
# HTTPS termination on a Gateway, side by side in one run with wrk against the same backend (nginx,
# 1 worker, HTTP/1.1, returns "ok"):
#   haproxy   HAProxy 2.6, 1 thread, "bind ... ssl crt" in front of the backend (http-reuse always)
#   skiff     skiff's node proxy, 1 worker: a Gateway listener with protocol HTTPS and a
#             kubernetes.io/tls Secret, HTTPRoute to a Service whose endpoint is the backend
# Two loads: "keepalive" (wrk -c64 keeps its connections: the steady cost of TLS records) and
# "handshake" (Connection: close: a full TLS handshake, ECDSA P-256, per request). Requests per
# second, p50/p99 and the proxy's CPU per request. Proxies on CPU 0; wrk and nginx on CPU 1.
# Usage: bench/run-https.sh [build/skiff]   (REPS, DUR, CONNS env)
set -euo pipefail
SKIFF=$(readlink -f "${1:-build/skiff}")
REPS=${REPS:-3}
DUR=${DUR:-8}
CONNS=${CONNS:-64}
BENCH_NAME=https
source "$(dirname "$0")/lib.sh"
need_free_ports 18080 18443 18444 16992
need_commands "apt-get install nginx haproxy wrk openssl" nginx haproxy wrk taskset curl openssl
[ -x "$SKIFF" ] || { echo "build $SKIFF first (make build)" >&2; exit 1; }
echo "# skiff HTTPS termination benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $(haproxy -v | awk 'NR==1{print "HAProxy", $3}'), $(openssl version | cut -d' ' -f1-2), wrk -t1 -c$CONNS -d${DUR}s, $REPS interleaved runs"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=bench.example" \
  -addext "subjectAltName=DNS:bench.example" -keyout "$W/tls.key" -out "$W/tls.crt" 2>/dev/null
cat "$W/tls.crt" "$W/tls.key" >"$W/tls.pem"
mkdir -p "$W/backend/tmp"
{
  echo "worker_processes 1; daemon off; pid $W/backend/nginx.pid; error_log $W/backend/error.log warn;"
  echo "events { worker_connections 16384; }"
  echo "http { access_log off; keepalive_timeout 300; keepalive_requests 100000000;"
  echo "  client_body_temp_path $W/backend/tmp/body; proxy_temp_path $W/backend/tmp/proxy; fastcgi_temp_path $W/backend/tmp/fcgi;"
  echo "  uwsgi_temp_path $W/backend/tmp/uwsgi; scgi_temp_path $W/backend/tmp/scgi;"
  echo '  server { listen 127.0.0.1:18080 backlog=4096; location / { return 200 "ok"; } } }'
} >"$W/backend/nginx.conf"
printf '%s\n' "global" "  nbthread 1" "  maxconn 9000" "  tune.ssl.default-dh-param 2048" "defaults" "  mode http" "  timeout connect 5s" \
  "  timeout client 60s" "  timeout server 60s" "  option http-keep-alive" "  http-reuse always" "frontend fe" \
  "  bind 127.0.0.1:18443 ssl crt $W/tls.pem alpn http/1.1" "  default_backend be" "backend be" "  server s1 127.0.0.1:18080 maxconn 1000" \
  >"$W/haproxy.cfg"

ulimit -n "$(ulimit -Hn)"
taskset -c 1 nginx -c "$W/backend/nginx.conf" -e "$W/backend/error.log" & PIDS+=($!)
taskset -c 0 haproxy -db -f "$W/haproxy.cfg" >"$W/haproxy.log" 2>&1 & HAP=$!; PIDS+=($HAP)
taskset -c 0 "$SKIFF" up --runtime process --data-dir "$W/skiff" --listen 127.0.0.1:16992 --proxy-workers 1 --access-log off >"$W/skiff.log" 2>&1 &
SK=$!; PIDS+=($SK)
for _ in $(seq 1 100); do grep -q "skiff is up" "$W/skiff.log" 2>/dev/null && break; sleep 0.05; done
KUBECONFIG="$W/skiff/kubeconfig" "$SKIFF" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Secret
metadata: {name: bench-tls}
type: kubernetes.io/tls
stringData:
  tls.crt: |
$(sed 's/^/    /' "$W/tls.crt")
  tls.key: |
$(sed 's/^/    /' "$W/tls.key")
---
apiVersion: v1
kind: Service
metadata: {name: backend}
spec: {ports: [{name: http, port: 80, targetPort: 18080}]}
---
apiVersion: v1
kind: Endpoints
metadata: {name: backend}
subsets: [{addresses: [{ip: 127.0.0.1}], ports: [{name: http, port: 18080}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: bench}
spec:
  gatewayClassName: skiff
  addresses: [{type: IPAddress, value: 127.0.0.1}]
  listeners: [{name: https, port: 18444, protocol: HTTPS, tls: {certificateRefs: [{name: bench-tls}]}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: bench}
spec:
  parentRefs: [{name: bench}]
  rules: [{backendRefs: [{name: backend, port: 80}]}]
EOF

NAMES=(haproxy skiff)
PORTS=(18443 18444)
PROCS=("$HAP" "$SK")
for p in "${PORTS[@]}"; do
  for _ in $(seq 1 100); do [ "$(curl -sk -m 1 https://127.0.0.1:$p/ || true)" = ok ] && break; sleep 0.1; done
  [ "$(curl -sk -m 1 https://127.0.0.1:$p/ || true)" = ok ] || { echo "nothing answers ok over TLS on port $p" >&2; tail -n 5 "$W"/*.log >&2; exit 1; }
done
for p in "${PORTS[@]}"; do taskset -c 1 wrk -t1 -c"$CONNS" -d2s "https://127.0.0.1:$p/" >/dev/null 2>&1; done
for r in $(seq 1 "$REPS"); do
  for load in keepalive handshake; do
    header=()
    [ "$load" = handshake ] && header=(-H "Connection: close")
    for i in "${!NAMES[@]}"; do
      n=${NAMES[$i]}-$load
      measure_wrk "$r" "$n" "${PROCS[$i]}" "https://127.0.0.1:${PORTS[$i]}/" "${header[@]}"
    done
  done
done
echo
printf "%-18s %10s %8s %8s %14s\n" target rps p50_ms p99_ms cpu_us_per_req
for load in keepalive handshake; do
  for n in "${NAMES[@]}"; do
    f=$n-$load
    printf "%-18s %10.0f %8s %8s %14s\n" "$f" "$(median <"$W/$f.rps")" "$(median <"$W/$f.p50")" "$(median <"$W/$f.p99")" "$(median <"$W/$f.cpu")"
  done
done
ratio() { echo "scale=3; $(median <"$W/$1.$3") / $(median <"$W/$2.$3")" | bc; }
for load in keepalive handshake; do
  echo "skiff/haproxy $load: rps $(ratio skiff-$load haproxy-$load rps)x, p99 $(ratio skiff-$load haproxy-$load p99)x, cpu per request $(ratio skiff-$load haproxy-$load cpu)x"
done
