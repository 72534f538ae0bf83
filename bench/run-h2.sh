#!/usr/bin/env bash
# HTTP/2 (h2c, the way gRPC clients talk in a mesh) through one proxy core: h2load against an
# nginx h2c backend directly, through HAProxy 2.6 (1 thread, h2 both sides) and through skiff's
# node proxy (1 worker, Gateway listener to a Service port named h2c). Proxies on core 0, backend
# and load generator on core 1. Reports requests/s and mean request time, median of REPS runs.
# The rows ending in "-h1": the same HTTP/2 clients through HAProxy and skiff to an nginx backend
# that speaks HTTP/1.1 (keep-alive), which each proxy translates to.
# Usage: bench/run-h2.sh [path/to/skiff]
set -euo pipefail
SKIFF=$(readlink -f "${1:-build/skiff}")
REPS=${REPS:-3}
DUR=${DUR:-8}
BENCH_NAME=h2
source "$(dirname "$0")/lib.sh"
need_commands "apt-get install nginx haproxy nghttp2-client" nginx haproxy h2load taskset
need_free_ports 18090 18091 18093 18094 18095 18096 16991
echo "# skiff HTTP/2 benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, h2load -c16 -m16 -D${DUR}, $REPS interleaved runs"
mkdir -p "$W/be/tmp"
cat >"$W/be/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $W/be/nginx.pid;
error_log $W/be/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $W/be/tmp/body; proxy_temp_path $W/be/tmp/proxy; fastcgi_temp_path $W/be/tmp/fcgi;
  uwsgi_temp_path $W/be/tmp/uwsgi; scgi_temp_path $W/be/tmp/scgi;
  keepalive_requests 100000000;
  server { listen 127.0.0.1:18090 http2; location / { return 200 "ok"; } }
  server { listen 127.0.0.1:18094; location / { return 200 "ok"; } }
}
EOF
cat >"$W/haproxy.cfg" <<'EOF'
global
  nbthread 1
  maxconn 9000
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend fe
  bind 127.0.0.1:18091 proto h2
  default_backend be
backend be
  server s1 127.0.0.1:18090 proto h2
frontend fe1
  bind 127.0.0.1:18095 proto h2
  option http-keep-alive
  http-reuse always
  default_backend be1
backend be1
  server s1 127.0.0.1:18094 maxconn 1000
EOF
taskset -c 1 nginx -c "$W/be/nginx.conf" -e "$W/be/error.log" & PIDS+=($!)
taskset -c 0 haproxy -db -f "$W/haproxy.cfg" >"$W/haproxy.log" 2>&1 & PIDS+=($!)
HAPROXY_PID=$!
taskset -c 0 "$SKIFF" up --runtime process --data-dir "$W/skiff" --listen 127.0.0.1:16991 --proxy-workers 1 --access-log off >"$W/skiff.log" 2>&1 &
PIDS+=($!)
SKIFF_PID=$!
for _ in $(seq 1 100); do grep -q "skiff is up" "$W/skiff.log" 2>/dev/null && break; sleep 0.05; done
KUBECONFIG="$W/skiff/kubeconfig" "$SKIFF" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: backend}
spec: {ports: [{name: h2c, port: 80, targetPort: 18090}]}
---
apiVersion: v1
kind: Endpoints
metadata: {name: backend}
subsets: [{addresses: [{ip: 127.0.0.1}], ports: [{name: h2c, port: 18090}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: bench}
spec:
  gatewayClassName: skiff
  addresses: [{type: IPAddress, value: 127.0.0.1}]
  listeners: [{name: http, port: 18093, protocol: HTTP}, {name: h1, port: 18096, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: bench}
spec:
  parentRefs: [{name: bench, sectionName: http}]
  rules: [{backendRefs: [{name: backend, port: 80}]}]
---
apiVersion: v1
kind: Service
metadata: {name: backend1}
spec: {ports: [{name: http, port: 80, targetPort: 18094}]}
---
apiVersion: v1
kind: Endpoints
metadata: {name: backend1}
subsets: [{addresses: [{ip: 127.0.0.1}], ports: [{name: http, port: 18094}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: bench1}
spec:
  parentRefs: [{name: bench, sectionName: h1}]
  rules: [{backendRefs: [{name: backend1, port: 80}]}]
EOF
NAMES=(direct haproxy skiff haproxy-h1 skiff-h1)
PORTS=(18090 18091 18093 18095 18096)
PROCS=("" "$HAPROXY_PID" "$SKIFF_PID" "$HAPROXY_PID" "$SKIFF_PID")
for p in "${PORTS[@]}"; do
  for _ in $(seq 1 100); do h2load -n1 -c1 "http://127.0.0.1:$p/" 2>/dev/null | grep -q "1 succeeded" && break; sleep 0.1; done
  h2load -n1 -c1 "http://127.0.0.1:$p/" | grep -q "1 succeeded" || { echo "nothing answers h2c on port $p" >&2; exit 1; }
done
declare -A RPS MEAN CPU
for rep in $(seq 1 "$REPS"); do
  for i in "${!NAMES[@]}"; do
    t0=$(cputicks "${PROCS[$i]}")
    out=$(taskset -c 1 h2load -c16 -m16 -t1 -D"$DUR" "http://127.0.0.1:${PORTS[$i]}/" 2>&1)
    t1=$(cputicks "${PROCS[$i]}")
    rps=$(awk '/^finished in/{gsub(",","",$4); print $4}' <<<"$out")
    ok=$(awk '/^requests:/{print $8}' <<<"$out")
    mean=$(awk '/^time for request:/{print $6}' <<<"$out")
    [ "${ok:-0}" -gt 0 ] || { echo "${NAMES[$i]}: no successful requests: $out" >&2; exit 1; }
    RPS[${NAMES[$i]}]+="$rps "
    MEAN[${NAMES[$i]}]+="$mean "
    [ -n "${PROCS[$i]}" ] && CPU[${NAMES[$i]}]+="$(awk -v a="$t0" -v b="$t1" -v tk="$TCK" -v r="$rps" -v d="$DUR" 'BEGIN{printf "%.2f", 1e6*(b-a)/tk/(r*d)}') "
  done
done
printf "%-10s %12s %16s %16s\n" target "req/s" "mean request" "proxy cpu/req"
for n in "${NAMES[@]}"; do
  cpu=$([ -n "${CPU[$n]:-}" ] && tr " " "\n" <<<"${CPU[$n]}" | grep . | median || true)
  printf "%-10s %12s %16s %16s\n" "$n" "$(tr ' ' '\n' <<<"${RPS[$n]}" | grep . | median)" "$(tr ' ' '\n' <<<"${MEAN[$n]}" | grep . | sed 's/ms$//;s/us$/e-3/' | median)ms" "${cpu:+${cpu}us}"
done
