#!/usr/bin/env bash
# The etcd store's figures (issue 19), peers in the same run:
#  1. durable creates/s of ConfigMaps through the API (HTTPS, CONC clients) on `skiff server` with
#     the SQLite store, on `skiff server --store etcd://` (one etcd member, fresh each run), and etcd
#     alone: gRPC puts of the stored size with the same concurrency, on the same etcd;
#  2. leader failover: two servers on one etcd and an agent; kill -9 of the server holding the
#     controller Lease, then a new pod through the other server: time until the new leader's
#     scheduler has bound it.
# Medians of RUNS. Usage: bench/run-store.sh [BUILD_DIR]   (env: RUNS=3 N=3000 CONC=16 SIZE=512 FAILOVERS=5)
set -euo pipefail
BENCH_NAME=store
source "$(dirname "$0")/lib.sh"
BUILD=$(readlink -f "${1:-build}")
SKIFF=$BUILD/skiff
BENCH=$BUILD/bench/skiff_bench
RUNS=${RUNS:-3}; N=${N:-3000}; CONC=${CONC:-16}; SIZE=${SIZE:-512}; FAILOVERS=${FAILOVERS:-5}
need_commands "apt-get install etcd-server" etcd
need_commands "apt-get install python3 jq curl" python3 jq curl
echo "# skiff store benchmarks, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# start_etcd NAME: one member on free ports with its data in $W/NAME; sets ETCD_PID and ETCD_EP.
start_etcd() {
  local client peer
  client=$(free_port); peer=$(free_port)
  etcd --name "$1" --data-dir "$W/$1" --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "$1=http://127.0.0.1:$peer" --initial-cluster-state new --logger zap >"$W/$1.log" 2>&1 &
  ETCD_PID=$!
  PIDS+=("$ETCD_PID")
  ETCD_EP=127.0.0.1:$client
  for _ in $(seq 1 100); do curl -s -m 1 "http://$ETCD_EP/health" 2>/dev/null | grep -q true && return 0; sleep 0.1; done
  echo "etcd did not start" >&2; exit 1
}

# start_server DIR [flags]: `skiff server` on a free port; sets SERVER_PID.
start_server() {
  local dir=$1
  shift
  "$SKIFF" server --data-dir "$dir" --listen 127.0.0.1:0 "$@" >"$dir.log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  for _ in $(seq 1 200); do grep -q "skiff server is up" "$dir.log" 2>/dev/null && return 0; sleep 0.05; done
  cat "$dir.log" >&2; echo "skiff server did not start" >&2; exit 1
}

# The stored ConfigMap is the data plus ~330 bytes of metadata: etcd alone puts values of that size.
STORED=$((SIZE + 330))
declare -A RATE P50 P99
record() {  # record NAME JSON
  echo "$2"
  RATE[$1]+="$(field "$2" per_second) "; P50[$1]+="$(field "$2" p50_ms) "; P99[$1]+="$(field "$2" p99_ms) "
}
echo "## durable creates: $N ConfigMaps of $SIZE B data, $CONC clients; etcd alone: $N puts of $STORED B, $CONC clients"
for run in $(seq 1 "$RUNS"); do
  start_server "$W/sqlite$run" --no-controllers
  record sqlite "$("$BENCH" creates --kubeconfig "$W/sqlite$run/kubeconfig" --n "$N" --conc "$CONC" --size "$SIZE" --prefix c)"
  stop "$SERVER_PID"
  start_etcd "etcd$run"
  start_server "$W/onetcd$run" --no-controllers --store "etcd://$ETCD_EP"
  record skiff-etcd "$("$BENCH" creates --kubeconfig "$W/onetcd$run/kubeconfig" --n "$N" --conc "$CONC" --size "$SIZE" --prefix c)"
  stop "$SERVER_PID"
  record etcd-alone "$("$BENCH" etcd-grpc-puts --endpoint "$ETCD_EP" --n "$N" --conc "$CONC" --size "$STORED")"
  stop "$ETCD_PID"
done
for name in sqlite skiff-etcd etcd-alone; do
  printf '%-11s creates/s median %s (runs: %s)  p50 %s ms  p99 %s ms\n' "$name" \
    "$(tr ' ' '\n' <<<"${RATE[$name]}" | grep . | median)" "${RATE[$name]}" \
    "$(tr ' ' '\n' <<<"${P50[$name]}" | grep . | median)" "$(tr ' ' '\n' <<<"${P99[$name]}" | grep . | median)"
done

echo "## leader failover: kill -9 of the controller Lease holder -> a new pod bound by the new leader ($FAILOVERS runs)"
start_etcd failover
declare -a SPID
for i in 0 1; do
  start_server "$W/s$i" --store "etcd://$ETCD_EP"
  SPID[$i]=$SERVER_PID
done
url() { awk '/server:/{print $2}' "$W/s$1/kubeconfig"; }
TOKEN=$(cat "$W/s0/token")
CA="$W/s0/tls/ca.crt"
api() {  # api SERVER_INDEX METHOD PATH [curl args]
  local i=$1 method=$2 path=$3
  shift 3
  curl -s -m 5 --cacert "$CA" -H "Authorization: Bearer $TOKEN" -X "$method" "$(url "$i")$path" "$@"
}
"$SKIFF" agent --data-dir "$W/agent" --kubeconfig "$W/s0/kubeconfig" --server "$(url 0),$(url 1)" --node-name bench-node \
  --runtime process --mesh-port 0 >"$W/agent.log" 2>&1 &
PIDS+=($!)
holder() { api "$1" GET /apis/coordination.k8s.io/v1/namespaces/kube-system/leases/skiff-controller-manager | jq -r '.spec.holderIdentity // ""'; }
leader_index() {  # the server whose log says the current holder leads
  local h
  h=$(holder "$1")
  [ -n "$h" ] || return 1
  for i in 0 1; do [ "$(grep -c "$h now leads" "$W/s$i.log" || true)" -gt 0 ] && { echo "$i"; return 0; }; done
  return 1
}
for _ in $(seq 1 200); do
  api 0 GET /api/v1/nodes/bench-node | jq -e '.status.conditions[]? | select(.type=="Ready" and .status=="True")' >/dev/null 2>&1 && break
  sleep 0.1
done
times=()
for run in $(seq 1 "$FAILOVERS"); do
  lead=
  for _ in $(seq 1 200); do lead=$(leader_index 0 2>/dev/null || leader_index 1 2>/dev/null) && [ -n "$lead" ] && break; sleep 0.1; done
  [ -n "$lead" ] || { echo "no leader" >&2; exit 1; }
  other=$((1 - lead))
  t0=$(date +%s.%N)
  kill -9 "${SPID[$lead]}"; wait "${SPID[$lead]}" 2>/dev/null || true
  api "$other" POST /api/v1/namespaces/default/pods -H 'Content-Type: application/json' \
    -d "{\"metadata\":{\"name\":\"f$run\"},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\",\"command\":[\"sleep\",\"600\"]}]}}" >/dev/null
  bound=
  for _ in $(seq 1 1500); do
    [ -n "$(api "$other" GET "/api/v1/namespaces/default/pods/f$run" | jq -r '.spec.nodeName // ""')" ] && { bound=1; break; }
    sleep 0.02
  done
  t1=$(date +%s.%N)
  [ -n "$bound" ] || { echo "pod f$run was not bound" >&2; exit 1; }
  times+=("$(echo "$t1 - $t0" | bc)")
  echo "run $run: server $lead killed, pod bound through server $other after ${times[-1]} s"
  # The killed server comes back as a standby (its lease identity is new).
  start_server "$W/s$lead" --store "etcd://$ETCD_EP"
  SPID[$lead]=$SERVER_PID
  api "$other" DELETE "/api/v1/namespaces/default/pods/f$run?gracePeriodSeconds=0" >/dev/null
done
echo "leader failover -> pod bound: median $(printf '%s\n' "${times[@]}" | median) s (each: ${times[*]})"
