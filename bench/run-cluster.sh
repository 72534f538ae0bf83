#!/usr/bin/env bash
# Cluster-mode figures (issue 19) on one machine, with the process runtime: time from
# `skiff agent` start to its Node Ready, the agent's resident memory with 30 pods, and node death
# (the agent stops answering) to its pods Running on another node with tight settings
# (--node-monitor-grace-period 1s, --node-lease-duration 1s, tolerationSeconds 0).
# Usage: bench/run-cluster.sh [build/skiff]   (env: RUNS=5)
set -euo pipefail
BENCH_NAME=cluster
source "$(dirname "$0")/lib.sh"
SKIFF=$(readlink -f "${1:-build/skiff}")
RUNS=${RUNS:-5}
need_commands "apt-get install python3" python3
echo "# skiff cluster mode, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

"$SKIFF" server --data-dir "$W/server" --listen 127.0.0.1:0 --node-monitor-grace-period 1s >"$W/server.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 200); do grep -q "skiff server is up" "$W/server.log" 2>/dev/null && break; sleep 0.05; done
KC="$W/server/kubeconfig"
SERVER=$(awk '/server:/{print $2}' "$KC")
TOKEN=$(cat "$W/server/token")
CA="$W/server/tls/ca.crt"

# poll.py WHAT ARGS: waits (bounded) for a condition read from the API every 10 ms; prints the
# seconds it took from the moment it started.
cat >"$W/poll.py" <<'PY'
import json, ssl, sys, time, urllib.request
server, token, ca, what = sys.argv[1:5]
ctx = ssl.create_default_context(cafile=ca)
def get(path):
    req = urllib.request.Request(server + path, headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req, context=ctx, timeout=5) as r:
        return json.load(r)
def node_ready(name):
    try:
        n = get("/api/v1/nodes/" + name)
    except Exception:
        return False
    return any(c["type"] == "Ready" and c["status"] == "True" for c in n.get("status", {}).get("conditions", []))
def running_on(selector, node, count):
    pods = get("/api/v1/namespaces/default/pods?labelSelector=" + selector)["items"]
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp") and p["spec"].get("nodeName") == node
            and p.get("status", {}).get("phase") == "Running"]
    return len(live) >= count
start = time.monotonic()
check = {"node-ready": lambda: node_ready(sys.argv[5]),
         "running-on": lambda: running_on(sys.argv[5], sys.argv[6], int(sys.argv[7]))}[what]
while not check():
    if time.monotonic() - start > 120:
        print("timeout"); sys.exit(1)
    time.sleep(0.01)
print("%.3f" % (time.monotonic() - start))
PY
poll() { python3 "$W/poll.py" "$SERVER" "$TOKEN" "$CA" "$@"; }
median() { sort -n | awk '{a[NR]=$1} END {printf "%.3f", (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
agent() {  # agent NAME [flags]: starts an agent, prints its PID
  local name=$1
  shift
  "$SKIFF" agent --data-dir "$W/$name" --kubeconfig "$KC" --node-name "$name" --runtime process --mesh-port 0 "$@" >"$W/$name.log" 2>&1 &
  echo $!
}

# 1. agent start -> Node Ready (a new node each run, so registration is included)
times=()
for i in $(seq 1 "$RUNS"); do
  t0=$(date +%s.%N)
  pid=$(agent "ready-$i")
  PIDS+=("$pid")
  poll node-ready "ready-$i" >/dev/null
  t1=$(date +%s.%N)
  times+=("$(echo "$t1 - $t0" | bc)")
  kill "$pid"; wait "$pid" 2>/dev/null || true
done
echo "agent start -> Node Ready: median $(printf '%s\n' "${times[@]}" | median) s over $RUNS runs (each: $(printf '%.3f ' "${times[@]}"))"

# 2. resident memory of an agent running 30 pods
pid=$(agent mem --node-lease-duration 1s)
PIDS+=("$pid")
poll node-ready mem >/dev/null
KUBECONFIG=$KC kubectl apply -f - >/dev/null <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: thirty}
spec:
  replicas: 30
  selector: {matchLabels: {app: thirty}}
  template:
    metadata: {labels: {app: thirty}}
    spec:
      nodeSelector: {kubernetes.io/hostname: mem}
      terminationGracePeriodSeconds: 1
      containers:
      - {name: main, image: busybox, command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]}
YAML
poll running-on app=thirty mem 30 >/dev/null
sleep 3
echo "agent resident memory with 30 pods (process runtime): $(awk '/VmRSS/{printf "%.1f MB", $2/1024}' /proc/$pid/status)  (k3s agent, published: 275 MB)"
KUBECONFIG=$KC kubectl delete deployment thirty --wait=false >/dev/null
KUBECONFIG=$KC kubectl wait --for=delete pod -l app=thirty --timeout=60s >/dev/null 2>&1 || true
kill "$pid"; wait "$pid" 2>/dev/null || true

# 3. node death -> its pods Running on another node
survivor=$(agent survivor --node-lease-duration 1s)
PIDS+=("$survivor")
poll node-ready survivor >/dev/null
times=()
for i in $(seq 1 "$RUNS"); do
  victim=$(agent "victim-$i" --node-lease-duration 1s)
  PIDS+=("$victim")
  poll node-ready "victim-$i" >/dev/null
  KUBECONFIG=$KC kubectl apply -f - >/dev/null <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: move-$i}
spec:
  replicas: 5
  selector: {matchLabels: {app: move-$i}}
  template:
    metadata: {labels: {app: move-$i}}
    spec:
      nodeSelector: {bench: move-$i}
      terminationGracePeriodSeconds: 1
      tolerations:
      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 0}
      - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 0}
      containers:
      - {name: main, image: busybox, command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]}
YAML
  # Both nodes may run them; only the victim does at first.
  KUBECONFIG=$KC kubectl label node "victim-$i" "bench=move-$i" >/dev/null
  poll running-on "app=move-$i" "victim-$i" 5 >/dev/null
  KUBECONFIG=$KC kubectl label node survivor "bench=move-$i" --overwrite >/dev/null
  t0=$(date +%s.%N)
  kill -STOP "$victim"
  poll running-on "app=move-$i" survivor 5 >/dev/null
  t1=$(date +%s.%N)
  times+=("$(echo "$t1 - $t0" | bc)")
  kill -CONT "$victim"; kill "$victim"; wait "$victim" 2>/dev/null || true
  KUBECONFIG=$KC kubectl delete deployment "move-$i" --wait=false >/dev/null
done
echo "node death -> 5 pods Running elsewhere (grace 1s, lease 1s, toleration 0s): median $(printf '%s\n' "${times[@]}" | median) s over $RUNS runs (each: $(printf '%.3f ' "${times[@]}"))"
