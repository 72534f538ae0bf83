#!/usr/bin/env bash
# Cluster mode on one machine: `skiff server` (control plane only) and two `skiff agent`s that
# reach it only over HTTPS. Nodes register and run the pods bound to them; the controllers hold
# the controller Lease; the kubernetes Endpoints name the server; agents with bad credentials or
# no server to talk to say so. (Several hosts in network namespaces: cluster_network_test.sh.)
source "$(dirname "$0")/lib.sh"
AGENTS=()
stop_agents() {
  for pid in "${AGENTS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then kill "$pid"; wait "$pid" 2>/dev/null || true; fi
  done
  AGENTS=()
}
trap 'stop_agents; cleanup' EXIT

"$SKIFF" server --data-dir "$WORK/server" --listen 127.0.0.1:0 --node-monitor-grace-period 4s >"$WORK/server.log" 2>&1 &
SKIFF_PID=$!
wait_for "server up" 20 grep -q "skiff server is up" "$WORK/server.log" || { cat "$WORK/server.log"; exit 1; }
export KUBECONFIG="$WORK/server/kubeconfig"

start_agent() {  # start_agent NAME [extra flags]: a node with the process runtime
  local name=$1
  shift
  "$SKIFF" agent --data-dir "$WORK/$name" --kubeconfig "$KUBECONFIG" --node-name "$name" --runtime process --mesh-port 0 "$@" \
    >>"$WORK/$name.log" 2>&1 &
  AGENTS+=($!)
}
start_agent node-a
start_agent node-b
ready_nodes() { [ "$(kubectl get nodes --no-headers 2>/dev/null | grep -c ' Ready ')" = 2 ]; }
check "both agents registered Ready nodes" wait_for "nodes ready" 20 ready_nodes
out=$(kubectl get nodes --no-headers)
check "agents' nodes are workers, not control-plane" lacks "$out" "control-plane"
out=$(kubectl get nodes node-a -o jsonpath='{.status.nodeInfo.containerRuntimeVersion} {.status.nodeInfo.kubeletVersion}')
check "nodes report their runtime and a kubelet-style version" contains "$out" "process://"

kubectl apply -f - >/dev/null <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: spread}
spec:
  replicas: 4
  selector: {matchLabels: {app: spread}}
  template:
    metadata: {labels: {app: spread}}
    spec:
      terminationGracePeriodSeconds: 1
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: spread}}}
      containers:
      - {name: main, image: busybox, command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]}
YAML
running() { [ "$(kubectl get pods -l app=spread --no-headers 2>/dev/null | grep -c Running)" = 4 ]; }
check "the deployment's pods run on the agents" wait_for "pods running" 30 running
out=$(kubectl get pods -l app=spread -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | sort | uniq -c)
check "spread over both nodes, two each" bash -c "grep -q '2 node-a' <<<'$out' && grep -q '2 node-b' <<<'$out'"
holder=$(kubectl get lease -n kube-system skiff-controller-manager -o jsonpath='{.spec.holderIdentity}')
check "the server holds the controller Lease" test -n "$holder"
out=$(kubectl get endpoints kubernetes -o jsonpath='{.subsets[0].addresses[0].ip}')
check "the kubernetes Endpoints name the server" test "$out" = 127.0.0.1

# An agent restarted keeps its pods' objects (nothing duplicated) and reports Ready again.
kill "${AGENTS[1]}"; wait "${AGENTS[1]}" 2>/dev/null || true
start_agent node-b
check "the restarted agent's node is Ready" wait_for "node-b ready" 20 ready_nodes
check "still four pods, all running again" wait_for "pods running" 30 running
out=$(kubectl get pods -l app=spread --no-headers | wc -l)
check "no duplicate pods" test "$out" = 4

# Bad credentials: refused with the server's reason, nothing registered.
sed "s/token: .*/token: not-the-token/" "$KUBECONFIG" >"$WORK/bad-kubeconfig"
timeout 20 "$SKIFF" agent --data-dir "$WORK/bad" --kubeconfig "$WORK/bad-kubeconfig" --node-name intruder --runtime process \
  --mesh-port 0 >"$WORK/bad.log" 2>&1 && rc=0 || rc=$?
check "an agent with a wrong token exits with the reason" bash -c "[ $rc = 1 ] && grep -qi 'token' '$WORK/bad.log'"
check "and registers nothing" bash -c "! kubectl get node intruder"
# No server at the address: the agent says what it waits for, and stops cleanly on SIGTERM.
"$SKIFF" agent --data-dir "$WORK/lonely" --kubeconfig "$KUBECONFIG" --server "https://127.0.0.1:$(free_port)" --node-name lonely \
  --runtime process --mesh-port 0 >"$WORK/lonely.log" 2>&1 &
LONELY=$!
check "an agent without a server says what it waits for" wait_for "waiting line" 15 grep -q "waiting for an API server" "$WORK/lonely.log"
kill "$LONELY"; wait "$LONELY" 2>/dev/null || true
check "and exits on SIGTERM" bash -c "! kill -0 $LONELY 2>/dev/null"

stop_agents
stop_skiff
finish
