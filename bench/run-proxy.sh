#!/usr/bin/env bash
# Node proxy figures (issue 5), side by side in one run with wrk on loopback against the same
# backend (nginx, 1 worker, returns "ok"):
#   direct, HAProxy (1 thread), nginx as a proxy (1 worker), skiff's node proxy (1 worker, a
#   Gateway + HTTPRoute to a Service), and skiff with its JSON access log on.
#   Requests per second, p50/p99 and what each proxy adds over direct, plus the proxy process's
#   CPU time per request (what the proxy itself costs, independent of how busy the load
#   generator's core is). Proxies run on CPU 0; wrk and the backend on CPU 1.
# Then: skiff's resident memory per 10,000 idle keep-alive client connections, and the time to
# rebuild the route table with 10,000 endpoints.
# Usage: bench/run-proxy.sh [build/skiff] [build/bench/proxy_bench]   (REPS, DUR, CONNS env)
set -euo pipefail
SKIFF=$(readlink -f "${1:-build/skiff}")
PBENCH=$(readlink -f "${2:-build/bench/proxy_bench}")
REPS=${REPS:-3}
DUR=${DUR:-8}
CONNS=${CONNS:-64}
BENCH_NAME=proxy
source "$(dirname "$0")/lib.sh"
need_free_ports 18080 18081 18082 18083 18084 16981 16982
need_commands "apt-get install nginx haproxy wrk (their services need not run)" nginx haproxy wrk taskset curl
echo "# skiff proxy benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# nginx $(nginx -v 2>&1 | sed 's/.*\///'), $(haproxy -v | awk 'NR==1{print "HAProxy", $3}'), wrk -t1 -c$CONNS -d${DUR}s, $REPS interleaved runs"

nginx_conf() {  # nginx_conf DIR LISTEN_PORT BODY
  mkdir -p "$1/tmp"
  cat >"$1/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 16384; }
worker_rlimit_nofile 16000;
http {
  access_log off;
  keepalive_timeout 300;
  keepalive_requests 100000000;
  client_body_temp_path $1/tmp/body; proxy_temp_path $1/tmp/proxy; fastcgi_temp_path $1/tmp/fcgi;
  uwsgi_temp_path $1/tmp/uwsgi; scgi_temp_path $1/tmp/scgi;
  $3
}
EOF
}
nginx_conf "$W/backend" 18080 'server { listen 127.0.0.1:18080 backlog=4096; location / { return 200 "ok"; } }'
nginx_conf "$W/nginxproxy" 18082 'upstream be { server 127.0.0.1:18080; keepalive 128; keepalive_requests 100000000; }
  server { listen 127.0.0.1:18082 backlog=4096; location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; } }'
cat >"$W/haproxy.cfg" <<'EOF'
global
  nbthread 1
  maxconn 9000
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option http-keep-alive
  http-reuse always
frontend fe
  bind 127.0.0.1:18081
  default_backend be
backend be
  server s1 127.0.0.1:18080 maxconn 1000
EOF
ulimit -n "$(ulimit -Hn)"
taskset -c 1 nginx -c "$W/backend/nginx.conf" -e "$W/backend/error.log" & PIDS+=($!)
taskset -c 0 haproxy -db -f "$W/haproxy.cfg" >"$W/haproxy.log" 2>&1 & HAP=$!; PIDS+=($HAP)
taskset -c 0 nginx -c "$W/nginxproxy/nginx.conf" -e "$W/nginxproxy/error.log" & NGX=$!; PIDS+=($NGX)

# skiff: a Service without selector whose Endpoints name the backend, a Gateway on 127.0.0.1,
# an HTTPRoute to the Service. Twice: access log off (as Istio's default) and on.
app() {  # app GATEWAY_PORT
  cat <<EOF
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
  listeners: [{name: http, port: $1, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: bench}
spec:
  parentRefs: [{name: bench}]
  rules: [{backendRefs: [{name: backend, port: 80}]}]
EOF
}
start_skiff() {  # start_skiff NAME API_PORT GATEWAY_PORT ACCESS_LOG
  taskset -c 0 "$SKIFF" up --runtime process --data-dir "$W/$1" --listen 127.0.0.1:$2 --proxy-workers 1 --access-log "$4" >"$W/$1.log" 2>&1 &
  PIDS+=($!)
  eval "${1}_PID=$!"
  for _ in $(seq 1 100); do grep -q "skiff is up" "$W/$1.log" 2>/dev/null && break; sleep 0.05; done
  app "$3" | KUBECONFIG="$W/$1/kubeconfig" "$SKIFF" apply -f - >/dev/null
}
start_skiff skiff 16981 18083 off
start_skiff skifflog 16982 18084 "$W/access.log"

NAMES=(direct haproxy nginx skiff skiff+log skiff+scrape)
PORTS=(18080 18081 18082 18083 18084 18083)
NGX_WORKER=$(pgrep -P "$NGX" | head -1)  # nginx's worker does the proxying, not its master
PROCS=("" "$HAP" "$NGX_WORKER" "$skiff_PID" "$skifflog_PID" "$skiff_PID")
# skiff+scrape: the same skiff while its /metrics is scraped every second (what Prometheus costs it).
scrape_loop() {
  while :; do
    curl -s --cacert "$W/skiff/tls/ca.crt" -H "Authorization: Bearer $(cat "$W/skiff/token")" https://127.0.0.1:16981/metrics >/dev/null
    sleep 1
  done
}
for p in "${PORTS[@]}"; do
  for _ in $(seq 1 100); do [ "$(curl -s -m 1 http://127.0.0.1:$p/ || true)" = ok ] && break; sleep 0.1; done
  [ "$(curl -s -m 1 http://127.0.0.1:$p/)" = ok ] || { echo "nothing answers ok on port $p" >&2; exit 1; }
done
for p in "${PORTS[@]}"; do taskset -c 1 wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$p/" >/dev/null 2>&1; done
for r in $(seq 1 "$REPS"); do
  for i in "${!NAMES[@]}"; do
    n=${NAMES[$i]}
    SCRAPER=
    if [ "$n" = skiff+scrape ]; then taskset -c 1 bash -c "$(declare -f scrape_loop); W=$W scrape_loop" & SCRAPER=$!; fi
    measure_wrk "$r" "$n" "${PROCS[$i]}" "http://127.0.0.1:${PORTS[$i]}/"
    [ -n "$SCRAPER" ] && { kill "$SCRAPER"; wait "$SCRAPER" 2>/dev/null || true; }
  done
done
echo
printf "%-10s %10s %8s %8s %9s %9s %14s\n" target rps p50_ms p99_ms add_p50 add_p99 cpu_us_per_req
d50=$(median <"$W/direct.p50"); d99=$(median <"$W/direct.p99")
for n in "${NAMES[@]}"; do
  rps=$(median <"$W/$n.rps"); p50=$(median <"$W/$n.p50"); p99=$(median <"$W/$n.p99")
  cpu=$(grep -v '^-$' "$W/$n.cpu" | median || true)
  [ "$cpu" = "0.000" ] && cpu=-
  printf "%-10s %10.0f %8s %8s %+9.3f %+9.3f %14s\n" "$n" "$rps" "$p50" "$p99" "$(echo "$p50 - $d50" | bc -l)" "$(echo "$p99 - $d99" | bc -l)" "${cpu:--}"
done
hr=$(median <"$W/haproxy.rps"); sr=$(median <"$W/skiff.rps")
ha99=$(echo "$(median <"$W/haproxy.p99") - $d99" | bc -l); sa99=$(echo "$(median <"$W/skiff.p99") - $d99" | bc -l)
hc=$(median <"$W/haproxy.cpu"); sc=$(median <"$W/skiff.cpu")
echo "metrics scraping every 1 s: $(echo "scale=3; $(median <"$W/skiff+scrape.rps") / $sr" | bc)x the requests per second of the unscraped run" 
echo "skiff/haproxy: rps $(echo "scale=2; $sr / $hr" | bc)x, added p99 $(echo "scale=2; $sa99 / $ha99" | bc)x, cpu per request $(echo "scale=2; $sc / $hc" | bc)x (requests per proxy-core-second $(echo "scale=2; $hc / $sc" | bc)x)"

# Memory per 10,000 idle client connections (after one request each).
rss() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
before=$(rss "$skiff_PID")
"$PBENCH" idle-conns --port 18083 --count 10000 --hold 4 >"$W/idle.log" 2>&1 &
IDLE=$!
sleep 3
during=$(rss "$skiff_PID")
wait $IDLE || { cat "$W/idle.log"; echo "idle connections failed" >&2; }
echo "idle connections: $(head -1 "$W/idle.log"); skiff RSS ${before} KiB -> ${during} KiB: $(( (during - before) )) KiB per 10,000 ($(( (during - before) * 1024 / 10000 )) bytes each)"
"$PBENCH" route-build --endpoints 10000 --services 100
"$PBENCH" route-build --endpoints 10000 --services 1000
