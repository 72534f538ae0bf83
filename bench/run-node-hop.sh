#!/usr/bin/env bash
# The cost of the API server -> node server hop: pods/log (non-follow) and a pods/exec round trip
# (`skiff exec POD -- true`: WebSocket open, command, final Status), and `kubectl logs`, each N
# times in a row against one skiff, median and p90 in ms. Run once with a build that relays to the
# node server and once with one that calls the agent in-process (main before the node server), on
# the process runtime, one after the other.
# Usage: bench/run-node-hop.sh SKIFF [N]
set -euo pipefail
SKIFF=$(readlink -f "$1")
N=${2:-200}
BENCH_NAME=nodehop
source "$(dirname "$0")/lib.sh"
need_commands "apt-get install curl kubectl" curl kubectl
p90() { sort -g | awk '{a[NR]=$1} END{ print a[int(NR*0.9+0.5)] }'; }
extra=()
grep -qa -- "node-server-port" "$SKIFF" && extra=(--node-server-port 0)  # builds before the node server lack the flag
"$SKIFF" up --data-dir "$W/data" --listen 127.0.0.1:0 --runtime process --mesh-port 0 "${extra[@]}" >"$W/up.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 200); do grep -q "skiff is up" "$W/up.log" 2>/dev/null && [ -s "$W/data/kubeconfig" ] && break; sleep 0.05; done
export KUBECONFIG="$W/data/kubeconfig"
SERVER=$(awk '/server:/{print $2}' "$KUBECONFIG")
TOKEN=$(cat "$W/data/token")
CA="$W/data/tls/ca.crt"
"$SKIFF" apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: bench}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: busybox, command: ["sh", "-c", "seq 1 100; exec sleep 3600"]}
YAML
for _ in $(seq 1 100); do [ "$(kubectl get pod bench -o jsonpath='{.status.phase}')" = Running ] && break; sleep 0.1; done
sleep 0.5
echo "# $(basename "$SKIFF") at $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), N=$N"
# curl keeps one TLS connection for all N requests, so the figure is the request, not the handshake.
urls=()
for _ in $(seq 1 "$N"); do urls+=(-o /dev/null "$SERVER/api/v1/namespaces/default/pods/bench/log"); done
curl -s --cacert "$CA" -H "Authorization: Bearer $TOKEN" -w '%{time_total}\n' "${urls[@]}" | awk '{print $1*1000}' >"$W/log.ms"
echo "pods/log over one connection:  median $(median <"$W/log.ms") ms, p90 $(p90 <"$W/log.ms") ms"
for _ in $(seq 1 "$N"); do
  s=$(date +%s%N); "$SKIFF" exec bench -- true >/dev/null; e=$(date +%s%N)
  echo "$(((e - s) / 1000))" | awk '{print $1/1000}'
done >"$W/exec.ms"
echo "skiff exec bench -- true:      median $(median <"$W/exec.ms") ms, p90 $(p90 <"$W/exec.ms") ms"
for _ in $(seq 1 $((N / 4))); do
  s=$(date +%s%N); kubectl logs bench >/dev/null; e=$(date +%s%N)
  echo "$(((e - s) / 1000))" | awk '{print $1/1000}'
done >"$W/kubectl.ms"
echo "kubectl logs bench:            median $(median <"$W/kubectl.ms") ms, p90 $(p90 <"$W/kubectl.ms") ms"
