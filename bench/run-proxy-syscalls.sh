#!/usr/bin/env bash
# Where a proxied HTTP/1.1 request's CPU goes, skiff's node proxy beside HAProxy and nginx: the
# system calls and TCP segments each proxy spends per request, and its CPU time per request split
# into user space and kernel. Same setup as bench/run-proxy.sh (nginx backend returning "ok" and wrk
# -t1 -c64 on CPU 1, each proxy with one thread on CPU 0), but skiff's proxy runs alone
# (`proxy_bench mesh-pair --mode one-hop`: the node proxy without the rest of skiff).
# Usage: bench/run-proxy-syscalls.sh [build/bench/proxy_bench]   (DUR, CONNS env)
set -euo pipefail
PBENCH=$(readlink -f "${1:-build/bench/proxy_bench}")
DUR=${DUR:-5}
CONNS=${CONNS:-64}
BENCH_NAME=syscalls
source "$(dirname "$0")/lib.sh"
need_free_ports 18080 18081 18082 18083
need_commands "apt-get install nginx haproxy wrk linux-perf iproute2" nginx haproxy wrk taskset curl perf nstat
[ -x "$PBENCH" ] || { echo "build $PBENCH first (make build)" >&2; exit 1; }

mkdir -p "$W/be/tmp" "$W/nx/tmp"
nginx_conf() {  # nginx_conf DIR SERVER-BLOCK
  {
    echo "worker_processes 1; daemon off; pid $1/nginx.pid; error_log $1/error.log warn;"
    echo "events { worker_connections 4096; }"
    echo "http { access_log off; keepalive_timeout 65; keepalive_requests 100000000;"
    echo "  client_body_temp_path $1/tmp/body; proxy_temp_path $1/tmp/proxy; fastcgi_temp_path $1/tmp/fcgi;"
    echo "  uwsgi_temp_path $1/tmp/uwsgi; scgi_temp_path $1/tmp/scgi;"
    echo "  $2 }"
  } >"$1/nginx.conf"
}
nginx_conf "$W/be" 'server { listen 127.0.0.1:18080 backlog=4096; location / { return 200 "ok"; } }'
nginx_conf "$W/nx" 'upstream backend { server 127.0.0.1:18080; keepalive 128; keepalive_requests 100000000; }
  server { listen 127.0.0.1:18082 backlog=4096; location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; } }'
printf '%s\n' "global" "  nbthread 1" "  maxconn 4096" "defaults" "  mode http" "  timeout connect 5s" "  timeout client 60s" \
  "  timeout server 60s" "  option http-keep-alive" "  http-reuse always" "frontend fe" "  bind 127.0.0.1:18081" "  default_backend be" \
  "backend be" "  server s1 127.0.0.1:18080 maxconn 1000" >"$W/haproxy.cfg"

taskset -c 1 nginx -c "$W/be/nginx.conf" -e "$W/be/error.log" & PIDS+=($!)
taskset -c 0 haproxy -db -f "$W/haproxy.cfg" >"$W/haproxy.log" 2>&1 & HA=$!; PIDS+=($HA)
taskset -c 0 nginx -c "$W/nx/nginx.conf" -e "$W/nx/error.log" & NX=$!; PIDS+=($NX)
taskset -c 0 "$PBENCH" mesh-pair --mode one-hop --listen 18083 --backend 18080 >"$W/skiff.log" 2>&1 & SK=$!; PIDS+=($SK)
sleep 0.5
NXW=$(pgrep -P "$NX" | head -1)  # nginx's worker does the proxying
NAMES=(haproxy nginx skiff)
PORTS=(18081 18082 18083)
PROCS=("$HA" "$NXW" "$SK")
for p in "${PORTS[@]}"; do
  for _ in $(seq 1 100); do [ "$(curl -s -m 1 http://127.0.0.1:$p/ || true)" = ok ] && break; sleep 0.1; done
  [ "$(curl -s -m 1 http://127.0.0.1:$p/ || true)" = ok ] || { echo "nothing answers ok on port $p" >&2; exit 1; }
done
EVENTS=syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_ctl,syscalls:sys_enter_sendto,syscalls:sys_enter_recvfrom,syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_writev,syscalls:sys_enter_readv,syscalls:sys_enter_sendmsg,syscalls:sys_enter_recvmsg,syscalls:sys_enter_clock_gettime
TCK=$(getconf CLK_TCK)
echo "# proxy syscalls per request, $(date -u +%Y-%m-%dT%H:%MZ), load $(cut -d' ' -f1-3 /proc/loadavg), wrk -t1 -c$CONNS -d${DUR}s"
printf "%-8s %9s %8s %8s %8s %8s %8s %9s %9s %9s\n" proxy req/s sendto recvfrom epoll_w epoll_ctl other segs/req user_us sys_us
for i in "${!NAMES[@]}"; do
  n=${NAMES[$i]} pid=${PROCS[$i]}
  taskset -c 1 wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:${PORTS[$i]}/" >/dev/null 2>&1
  read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$pid/stat")
  nstat -n
  perf stat -x, -e "$EVENTS" -p "$pid" -o "$W/perf.$n" -- sleep "$DUR" &
  PERF=$!
  out=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${DUR}s" "http://127.0.0.1:${PORTS[$i]}/")
  wait $PERF
  segs=$(nstat | awk '/TcpOutSegs/{print $2}')
  read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$pid/stat")
  req=$(awk '/requests in/{print $1}' <<<"$out")
  rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
  count() { awk -F, -v e="syscalls:sys_enter_$1" '$3==e{print $1+0}' "$W/perf.$n"; }
  other=$(awk -F, '$3 ~ /sys_enter_(read|write|writev|readv|sendmsg|recvmsg|clock_gettime)$/{t+=$1} END{print t+0}' "$W/perf.$n")
  # Segments count both directions of every connection on loopback; per proxy they are its own
  # plus wrk's and the backend's, so compare them between proxies, not as absolute numbers.
  awk -v n="$n" -v r="$req" -v rps="$rps" -v st="$(count sendto)" -v rf="$(count recvfrom)" -v ew="$(count epoll_wait)" \
    -v ec="$(count epoll_ctl)" -v o="$other" -v sg="$segs" -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v tck="$TCK" -v dur="$DUR" \
    'BEGIN{ printf "%-8s %9.0f %8.3f %8.3f %8.3f %8.3f %8.3f %9.2f %9.2f %9.2f\n", n, rps, st/r, rf/r, ew/r, ec/r, o/r, sg/r, u*1e6/tck/(rps*dur), s*1e6/tck/(rps*dur) }'
done
echo "# user_us/sys_us: the proxy process's CPU per request over the run (from /proc/PID/stat; ticks of 1/$TCK s)"
