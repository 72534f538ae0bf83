#!/usr/bin/env bash
# Controller and scheduler benchmarks on simulated nodes.
# Usage: bench/run-controllers.sh [BUILD_DIR]   (env: NODES=5000 PODS=100000 REPLICAS=1000 DEFAULT_NODE_DEATH=0)
# DEFAULT_NODE_DEATH=1 also measures node death at Kubernetes' defaults (40 s grace + 300 s
# toleration: about 6 minutes). Every wait is bounded; skiff processes are stopped by PID.
set -euo pipefail
BUILD=$(readlink -f "${1:-build}")
SKIFF=$BUILD/skiff
BENCH=$BUILD/bench/skiff_bench
NODES=${NODES:-5000}; PODS=${PODS:-100000}; REPLICAS=${REPLICAS:-1000}
W=$(mktemp -d -t skiff-bench-ctl.XXXXXX)
PID=
stop() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; PID=; }
trap 'stop; rm -rf "$W"' EXIT
up() {  # up DIR ARGS...
  local dir=$1; shift
  "$SKIFF" up --data-dir "$W/$dir" --listen 127.0.0.1:16996 "$@" >"$W/$dir.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 600); do grep -q "skiff is up" "$W/$dir.log" 2>/dev/null && break; sleep 0.1; done
}
rss() { awk '/^VmRSS:/{printf "%.1f", $2/1024}' /proc/"$PID"/status; }

echo "# skiff controller benchmarks, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores"
echo "## scheduling decisions alone (schedule() over 5,000 nodes, node affinity)"
"$BUILD/bench/scheduler_decisions" --benchmark_min_time=2 2>/dev/null | tail -1

echo "## $PODS pods onto $NODES simulated nodes (create, schedule, bind, report Running), API latency meanwhile"
t0=$(date +%s.%N); up big --simulated-nodes "$NODES" --no-agent; t1=$(date +%s.%N)
echo "{\"mode\":\"register-nodes\",\"nodes\":$NODES,\"seconds\":$(echo "$t1 - $t0" | bc)}"
"$BENCH" schedule --kubeconfig "$W/big/kubeconfig" --n "$PODS" --conc 8 --timeout 600
sleep 5
echo "{\"mode\":\"control-plane-rss\",\"nodes\":$NODES,\"pods\":$PODS,\"rss_mib\":$(rss)}"
"$BENCH" list --kubeconfig "$W/big/kubeconfig" --path /api/v1/pods --repeat 3
stop

echo "## Deployment of $REPLICAS replicas on 100 simulated nodes: apply to ready, rolling update"
up conv --simulated-nodes 100 --no-agent
"$BENCH" deploy-converge --kubeconfig "$W/conv/kubeconfig" --replicas "$REPLICAS"
stop

echo "## node death to pods ready elsewhere: tight settings (2 s grace, 1 s toleration)"
up tight --simulated-nodes 10 --no-agent --node-monitor-grace-period 2s
"$BENCH" node-death --kubeconfig "$W/tight/kubeconfig" --replicas 300 --toleration-seconds 1
stop
if [ "${DEFAULT_NODE_DEATH:-0}" = 1 ]; then
  echo "## node death at Kubernetes' defaults (40 s grace, 300 s toleration)"
  up default --simulated-nodes 10 --no-agent
  "$BENCH" node-death --kubeconfig "$W/default/kubeconfig" --replicas 300 --timeout 900
  stop
fi
