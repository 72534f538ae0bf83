#!/usr/bin/env bash
# What mTLS between nodes costs (issue 5), side by side in one run with wrk on loopback against the
# same backend (nginx, 1 worker, returns "ok"): a request crosses two proxies, node A's then
# node B's, as it does when the pod runs on another node.
#   skiff-plain   two skiff node proxies (1 worker each), plain HTTP between them
#   skiff-mtls    the same with the mesh: TLS 1.3, both sides' certificates checked, CONNECT tunnel
#   haproxy-plain two HAProxy processes (1 thread each), plain HTTP between them
#   haproxy-mtls  the same with TLS 1.3 both ways verified ("ssl crt ... ca-file ... verify required")
# Requests per second, p50/p99, and the CPU both proxies spend per request. Proxies on CPU 0;
# wrk and the backend on CPU 1. Connections between the proxies are kept alive, so this is the
# steady cost of encrypting, not of handshakes.
# Usage: bench/run-mesh.sh [build/bench/proxy_bench]   (REPS, DUR, CONNS env)
set -euo pipefail
PBENCH=$(readlink -f "${1:-build/bench/proxy_bench}")
REPS=${REPS:-3}
DUR=${DUR:-8}
CONNS=${CONNS:-64}
BENCH_NAME=mesh
source "$(dirname "$0")/lib.sh"
need_free_ports 18080 18190 18191 18192 18193
need_commands "apt-get install nginx haproxy wrk bc" nginx haproxy wrk taskset curl bc
[ -x "$PBENCH" ] || { echo "build $PBENCH first (make build)" >&2; exit 1; }
echo "# skiff mesh (mTLS) benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $(haproxy -v | awk 'NR==1{print "HAProxy", $3}'), $(openssl version | cut -d' ' -f1-2), wrk -t1 -c$CONNS -d${DUR}s, $REPS interleaved runs"

mkdir -p "$W/backend/tmp"
{
  echo "worker_processes 1; daemon off; pid $W/backend/nginx.pid; error_log $W/backend/error.log warn;"
  echo "events { worker_connections 16384; }"
  echo "http { access_log off; keepalive_timeout 300; keepalive_requests 100000000;"
  echo "  client_body_temp_path $W/backend/tmp/body; proxy_temp_path $W/backend/tmp/proxy; fastcgi_temp_path $W/backend/tmp/fcgi;"
  echo "  uwsgi_temp_path $W/backend/tmp/uwsgi; scgi_temp_path $W/backend/tmp/scgi;"
  echo '  server { listen 127.0.0.1:18080 backlog=4096; location / { return 200 "ok"; } } }'
} >"$W/backend/nginx.conf"
"$PBENCH" mesh-certs --dir "$W"
haproxy_cfg() {  # haproxy_cfg FILE BIND SERVER
  printf '%s\n' "global" "  nbthread 1" "  maxconn 9000" "defaults" "  mode http" "  timeout connect 5s" "  timeout client 60s" \
    "  timeout server 60s" "  option http-keep-alive" "  http-reuse always" "frontend fe" "  bind $2" "  default_backend be" \
    "backend be" "  server s1 $3 maxconn 1000" >"$1"
}
haproxy_cfg "$W/hap-mtls-a.cfg" "127.0.0.1:18192" "127.0.0.3:18197 ssl crt $W/a.pem ca-file $W/ca.crt verify required ssl-min-ver TLSv1.3"
haproxy_cfg "$W/hap-mtls-b.cfg" "127.0.0.3:18197 ssl crt $W/b.pem ca-file $W/ca.crt verify required ssl-min-ver TLSv1.3" "127.0.0.1:18080"
haproxy_cfg "$W/hap-plain-a.cfg" "127.0.0.1:18193" "127.0.0.3:18198"
haproxy_cfg "$W/hap-plain-b.cfg" "127.0.0.3:18198" "127.0.0.1:18080"

ulimit -n "$(ulimit -Hn)"
taskset -c 1 nginx -c "$W/backend/nginx.conf" -e "$W/backend/error.log" & PIDS+=($!)
taskset -c 0 "$PBENCH" mesh-pair --mode mtls --listen 18190 --hop 18195 --backend 18080 >"$W/skiff-mtls.log" 2>&1 & SM=$!; PIDS+=($SM)
taskset -c 0 "$PBENCH" mesh-pair --mode plain --listen 18191 --hop 18196 --backend 18080 >"$W/skiff-plain.log" 2>&1 & SP=$!; PIDS+=($SP)
declare -A HAP
for f in mtls-a mtls-b plain-a plain-b; do
  taskset -c 0 haproxy -db -f "$W/hap-$f.cfg" >"$W/hap-$f.log" 2>&1 & PIDS+=($!)
  HAP[$f]=$!
done

NAMES=(skiff-plain skiff-mtls haproxy-plain haproxy-mtls)
PORTS=(18191 18190 18193 18192)
PROCS=("$SP" "$SM" "${HAP[plain-a]} ${HAP[plain-b]}" "${HAP[mtls-a]} ${HAP[mtls-b]}")
for p in "${PORTS[@]}"; do
  for _ in $(seq 1 100); do [ "$(curl -s -m 1 http://127.0.0.1:$p/ || true)" = ok ] && break; sleep 0.1; done
  [ "$(curl -s -m 1 http://127.0.0.1:$p/ || true)" = ok ] || { echo "nothing answers ok on port $p" >&2; tail -n 5 "$W"/*.log >&2; exit 1; }
done
for p in "${PORTS[@]}"; do taskset -c 1 wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$p/" >/dev/null 2>&1; done
for r in $(seq 1 "$REPS"); do
  for i in "${!NAMES[@]}"; do
    n=${NAMES[$i]}
    measure_wrk "$r" "$n" "${PROCS[$i]}" "http://127.0.0.1:${PORTS[$i]}/"
  done
done
echo
printf "%-14s %10s %8s %8s %14s\n" target rps p50_ms p99_ms cpu_us_per_req
for n in "${NAMES[@]}"; do
  printf "%-14s %10.0f %8s %8s %14s\n" "$n" "$(median <"$W/$n.rps")" "$(median <"$W/$n.p50")" "$(median <"$W/$n.p99")" "$(median <"$W/$n.cpu")"
done
ratio() { echo "scale=3; $(median <"$W/$1.$3") / $(median <"$W/$2.$3")" | bc; }
echo "mTLS cost, skiff:   rps $(ratio skiff-mtls skiff-plain rps)x of plain, cpu per request $(ratio skiff-mtls skiff-plain cpu)x"
echo "mTLS cost, HAProxy: rps $(ratio haproxy-mtls haproxy-plain rps)x of plain, cpu per request $(ratio haproxy-mtls haproxy-plain cpu)x"
echo "skiff-mtls/haproxy-mtls: rps $(ratio skiff-mtls haproxy-mtls rps)x, p99 $(ratio skiff-mtls haproxy-mtls p99)x, cpu per request $(ratio skiff-mtls haproxy-mtls cpu)x"
