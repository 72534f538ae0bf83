#!/usr/bin/env bash
# Node proxy figures (issue 5), side by side in one run with wrk on loopback against the same
# backend (nginx, 1 worker, returns "ok"):
#   direct, HAProxy (1 thread), nginx as a proxy (1 worker), skiff's node proxy (1 worker, a
#   Gateway + HTTPRoute to a Service), and skiff with its JSON access log on.
#   Requests per second, p50/p99 and what each proxy adds over direct, plus the proxy process's
#   CPU time per request (what the proxy itself costs, independent of how busy the load
#   generator's core is). Proxies run on CPU 0; wrk and the backend on CPU 1.
# Scrape rows (what collecting /metrics every second costs the data path): skiff+scrape is the
# same skiff while `proxy_bench scrape` fetches its /metrics as Prometheus does (one kept-alive
# TLS connection, a GET per second, on CPU 1 with wrk); direct+scrape is that scraper running
# while wrk talks to the backend directly (what the scraper itself costs the load generator's
# core); skiff+curl scrapes with a new curl process and TLS handshake each second, as this script
# did before (its process start lands on wrk's core: direct+curl shows that share).
# Then: skiff's resident memory per 10,000 idle keep-alive client connections, and the time to
# rebuild the route table with 10,000 endpoints.
# Usage: bench/run-proxy.sh [build/skiff] [build/bench/proxy_bench]   (REPS, DUR, CONNS env)
#   TARGETS="direct skiff skiff+scrape ...": only these rows (default: all); EXTRAS=0 skips the
#   idle-connection and route-build figures.
#   BASELINE=path/to/older/skiff adds rows base and base+scrape: another build in the same run.
set -euo pipefail
SKIFF=$(readlink -f "${1:-build/skiff}")
PBENCH=$(readlink -f "${2:-build/bench/proxy_bench}")
REPS=${REPS:-3}
DUR=${DUR:-8}
CONNS=${CONNS:-64}
BENCH_NAME=proxy
source "$(dirname "$0")/lib.sh"
EXTRAS=${EXTRAS:-1}
BASELINE=${BASELINE:+$(readlink -f "$BASELINE")}
need_free_ports 18080 18081 18082 18083 18084 18085 16981 16982 16983
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
start_skiff() {  # start_skiff NAME API_PORT GATEWAY_PORT ACCESS_LOG [BINARY]
  taskset -c 0 "${5:-$SKIFF}" up --runtime process --data-dir "$W/$1" --listen 127.0.0.1:$2 --proxy-workers 1 --access-log "$4" >"$W/$1.log" 2>&1 &
  PIDS+=($!)
  eval "${1}_PID=$!"
  for _ in $(seq 1 100); do grep -q "skiff is up" "$W/$1.log" 2>/dev/null && break; sleep 0.05; done
  app "$3" | KUBECONFIG="$W/$1/kubeconfig" "$SKIFF" apply -f - >/dev/null
}
start_skiff skiff 16981 18083 off
start_skiff skifflog 16982 18084 "$W/access.log"
[ -n "$BASELINE" ] && start_skiff base 16983 18085 off "$BASELINE"
declare -A API_PORT=([skiff]=16981 [skifflog]=16982 [base]=16983)

# Rows: name, port wrk hits, PIDs whose CPU is counted, and the scraper running meanwhile
# (keepalive:INSTANCE or curl:INSTANCE, the skiff whose /metrics is scraped).
NAMES=() ; declare -A PORT PROC SCRAPER
NGX_WORKER=$(pgrep -P "$NGX" | head -1)  # nginx's worker does the proxying, not its master
row() {  # direct always runs: the added latencies are measured from it
  if [ -z "${TARGETS:-}" ] || [ "$1" = direct ] || [[ " $TARGETS " == *" $1 "* ]]; then NAMES+=("$1"); PORT[$1]=$2; PROC[$1]=$3; SCRAPER[$1]=${4:-}; fi; }
row direct 18080 ""
row direct+scrape 18080 "" keepalive:skiff
row direct+curl 18080 "" curl:skiff
row haproxy 18081 "$HAP"
row nginx 18082 "$NGX_WORKER"
row skiff 18083 "$skiff_PID"
row skiff+log 18084 "$skifflog_PID"
row skiff+scrape 18083 "$skiff_PID" keepalive:skiff
row skiff+curl 18083 "$skiff_PID" curl:skiff
if [ -n "$BASELINE" ]; then
  row base 18085 "$base_PID"
  row base+scrape 18085 "$base_PID" keepalive:base
  row base+curl 18085 "$base_PID" curl:base
fi
curl_scrape_loop() {  # curl_scrape_loop INSTANCE: a new curl and TLS handshake every second
  while :; do
    curl -s --cacert "$W/$1/tls/ca.crt" -H "Authorization: Bearer $(cat "$W/$1/token")" "https://127.0.0.1:${API_PORT[$1]}/metrics" >/dev/null
    sleep 1
  done
}
start_scraper() {  # start_scraper KIND:INSTANCE; sets SCRAPER_PID
  local kind=${1%%:*} instance=${1#*:}
  if [ "$kind" = keepalive ]; then
    taskset -c 1 "$PBENCH" scrape --port "${API_PORT[$instance]}" --data-dir "$W/$instance" --seconds "$DUR" >>"$W/scrapes.log" &
  else
    taskset -c 1 bash -c "$(declare -f curl_scrape_loop); W=$W; $(declare -p API_PORT); curl_scrape_loop $instance" &
  fi
  SCRAPER_PID=$!
  PIDS+=("$SCRAPER_PID")  # stopped on exit if a run fails midway
}
for n in "${NAMES[@]}"; do
  p=${PORT[$n]}
  for _ in $(seq 1 100); do [ "$(curl -s -m 1 http://127.0.0.1:$p/ || true)" = ok ] && break; sleep 0.1; done
  [ "$(curl -s -m 1 http://127.0.0.1:$p/)" = ok ] || { echo "nothing answers ok on port $p" >&2; exit 1; }
done
for n in "${NAMES[@]}"; do taskset -c 1 wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:${PORT[$n]}/" >/dev/null 2>&1; done
for r in $(seq 1 "$REPS"); do
  for n in "${NAMES[@]}"; do
    SCRAPER_PID=
    [ -n "${SCRAPER[$n]}" ] && start_scraper "${SCRAPER[$n]}"
    measure_wrk "$r" "$n" "${PROC[$n]}" "http://127.0.0.1:${PORT[$n]}/"
    if [ -n "$SCRAPER_PID" ]; then
      [ "${SCRAPER[$n]%%:*}" = curl ] && kill "$SCRAPER_PID"
      wait "$SCRAPER_PID" 2>/dev/null || true
    fi
  done
done
echo
printf "%-14s %10s %8s %8s %9s %9s %14s\n" target rps p50_ms p99_ms add_p50 add_p99 cpu_us_per_req
d50=$(median <"$W/direct.p50"); d99=$(median <"$W/direct.p99")
for n in "${NAMES[@]}"; do
  rps=$(median <"$W/$n.rps"); p50=$(median <"$W/$n.p50"); p99=$(median <"$W/$n.p99")
  cpu=$(grep -v '^-$' "$W/$n.cpu" | median || true)
  [ "$cpu" = "0.000" ] && cpu=-
  printf "%-14s %10.0f %8s %8s %+9.3f %+9.3f %14s\n" "$n" "$rps" "$p50" "$p99" "$(echo "$p50 - $d50" | bc -l)" "$(echo "$p99 - $d99" | bc -l)" "${cpu:--}"
done
has() { [ -s "$W/$1.rps" ]; }
ratio() { echo "scale=3; $1 / $2" | bc; }
for pair in skiff:skiff+scrape skiff:skiff+curl direct:direct+scrape direct:direct+curl base:base+scrape base:base+curl; do
  a=${pair%%:*} b=${pair#*:}
  has "$a" && has "$b" || continue
  echo "$b vs $a: p99 $(median <"$W/$a.p99") -> $(median <"$W/$b.p99") ms ($(printf %+.3f "$(echo "$(median <"$W/$b.p99") - $(median <"$W/$a.p99")" | bc -l)")), rps $(ratio "$(median <"$W/$b.rps")" "$(median <"$W/$a.rps")")x"
done
[ -s "$W/scrapes.log" ] && awk '{for(i=1;i<=NF;i++){split($i,kv,"="); v[kv[1]]=kv[2]} n++; s+=v["scrapes"]; b=v["bytes"]; if(v["max_ms"]>m) m=v["max_ms"]; p=p" "v["p50_ms"]}
  END{printf "keep-alive scrapes: %d in %d runs, /metrics %d bytes, each run'"'"'s median scrape (ms):%s, slowest %.3f ms\n", s, n, b, p, m}' "$W/scrapes.log"
if has haproxy && has skiff && has direct; then
  hr=$(median <"$W/haproxy.rps"); sr=$(median <"$W/skiff.rps")
  ha99=$(echo "$(median <"$W/haproxy.p99") - $d99" | bc -l); sa99=$(echo "$(median <"$W/skiff.p99") - $d99" | bc -l)
  hc=$(median <"$W/haproxy.cpu"); sc=$(median <"$W/skiff.cpu")
  echo "skiff/haproxy: rps $(echo "scale=2; $sr / $hr" | bc)x, added p99 $(echo "scale=2; $sa99 / $ha99" | bc)x, cpu per request $(echo "scale=2; $sc / $hc" | bc)x (requests per proxy-core-second $(echo "scale=2; $hc / $sc" | bc)x)"
fi
[ "$EXTRAS" = 0 ] && exit 0

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
