#!/usr/bin/env bash
# The API server's front door under abuse (issue 18), optionally beside an older skiff build in
# the same run (OLD=path/to/old/skiff): memory per idle connection and the number held, an
# authenticated GET's p99 while 10,000 connections dribble bytes (against none), and memory with
# 10,000 unread watchers of one resource taking updates (against 100).
# Usage: bench/run-api-front-door.sh [build/skiff]   (env: OLD, IDLE=10000, WATCHERS=10000)
set -euo pipefail
BENCH_NAME=api
source "$(dirname "$0")/lib.sh"
TOOL=$(readlink -f "$(dirname "$0")/../tests/e2e/tools/api_abuse.py")
IDLE=${IDLE:-10000} WATCHERS=${WATCHERS:-10000}
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "# skiff API front door, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

run_one() {  # run_one LABEL BINARY
  local label=$1 bin=$2 data="$W/$1" pid server token args
  "$bin" up --data-dir "$data" --listen 127.0.0.1:0 --runtime process --no-agent --mesh-port 0 >"$W/$label.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  for _ in $(seq 1 200); do [ -s "$data/kubeconfig" ] && grep -q "skiff is up" "$W/$label.log" && break; sleep 0.05; done
  server=$(awk '/server:/{print $2}' "$data/kubeconfig")
  token=$(cat "$data/token")
  args=(--server "$server" --token "$token" --ca "$data/tls/ca.crt" --pid "$pid")
  run() { local r; r=$(timeout 300 python3 "$TOOL" "$@" "${args[@]}" 2>&1 | tail -1) || true; echo "${r:-\{\"error\":\"the tool failed or timed out\"\}}"; }
  echo "[$label] baseline GETs:          $(run gets --gets 2000 --seconds 30)"
  echo "[$label] $IDLE silent connections: $(run idle --count "$IDLE" --gets 2000 --seconds 60)"
  sleep 2
  echo "[$label] 2000 idle after TLS:    $(run tls-idle --count 2000 --seconds 8)"
  sleep 2
  echo "[$label] $IDLE dribbling:          $(run dribble --count "$IDLE" --gets 2000 --seconds 25)"
  sleep 2
  curl -s --cacert "$data/tls/ca.crt" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -X POST "$server/api/v1/namespaces" -d '{"metadata":{"name":"w100"}}' >/dev/null
  curl -s --cacert "$data/tls/ca.crt" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -X POST "$server/api/v1/namespaces" -d '{"metadata":{"name":"wmany"}}' >/dev/null
  echo "[$label] 100 unread watchers:    $(run watchers --namespace w100 --count 100 --updates 10000 --rate 1000 --size 1000 --seconds 20)"
  echo "[$label] $WATCHERS unread watchers:  $(run watchers --namespace wmany --count "$WATCHERS" --updates 10000 --rate 1000 --size 1000 --seconds 60)"
  echo "[$label] threads at the end: $(ls /proc/$pid/task 2>/dev/null | wc -l), rss $(awk '/VmRSS/{print $2" kB"}' /proc/$pid/status 2>/dev/null)"
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

run_one new "$(readlink -f "${1:-build/skiff}")"
if [ -n "${OLD:-}" ]; then run_one old "$(readlink -f "$OLD")"; fi
