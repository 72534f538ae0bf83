#!/usr/bin/env bash
# Cluster mode on one machine: `skiff server` (control plane only) and two `skiff agent`s that
# reach it only over HTTPS. Nodes register and run the pods bound to them; the controllers hold
# the controller Lease; the kubernetes Endpoints name the server; agents with bad credentials or
# no server to talk to say so. (Several hosts in network namespaces: cluster_network_test.sh.)
source "$(dirname "$0")/lib.sh"
declare -A AGENT  # node name -> pid
stop_agents() {
  for pid in "${AGENT[@]}"; do
    kill -CONT "$pid" 2>/dev/null || true
    if kill -0 "$pid" 2>/dev/null; then kill "$pid"; wait "$pid" 2>/dev/null || true; fi
  done
  AGENT=()
}
trap 'stop_agents; cleanup' EXIT

"$SKIFF" server --data-dir "$WORK/server" --listen 127.0.0.1:0 --node-monitor-grace-period 4s >"$WORK/server.log" 2>&1 &
SKIFF_PID=$!
wait_for "server up" 20 grep -q "skiff server is up" "$WORK/server.log" || { cat "$WORK/server.log"; exit 1; }
export KUBECONFIG="$WORK/server/kubeconfig"

start_agent() {  # start_agent NAME [extra flags]: a node with the process runtime
  local name=$1
  shift
  "$SKIFF" agent --data-dir "$WORK/$name" --kubeconfig "$KUBECONFIG" --node-name "$name" --runtime process --mesh-port 0 \
    --node-lease-duration 2s "$@" \
    >>"$WORK/$name.log" 2>&1 &
  AGENT[$name]=$!
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
kill "${AGENT[node-b]}"; wait "${AGENT[node-b]}" 2>/dev/null || true
start_agent node-b
check "the restarted agent's node is Ready" wait_for "node-b ready" 20 ready_nodes
check "still four pods, all running again" wait_for "pods running" 30 running
out=$(kubectl get pods -l app=spread --no-headers | wc -l)
check "no duplicate pods" test "$out" = 4

# A node cut off (its agent stopped, not killed): its pods move to the other node; when it comes
# back it drops the pods that moved, and nothing is duplicated.
kubectl apply -f - >/dev/null <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: mover}
spec:
  replicas: 2
  selector: {matchLabels: {app: mover}}
  template:
    metadata: {labels: {app: mover}}
    spec:
      terminationGracePeriodSeconds: 1
      tolerations:
      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 1}
      - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 1}
      containers:
      - {name: main, image: busybox, command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]}
YAML
# Live mover pods (not being deleted): "node phase". Pods of an unreachable node stay Terminating
# until it answers, as in Kubernetes; their replacements are what counts.
movers() { kubectl get pods -l app=mover --no-headers -o custom-columns=N:.spec.nodeName,S:.status.phase,D:.metadata.deletionTimestamp 2>/dev/null | grep '<none>$'; }
check "the mover pods run" wait_for "movers" 30 bash -c "[ \$(kubectl get pods -l app=mover --no-headers | grep -c Running) = 2 ]"
victim=$(kubectl get pods -l app=mover -o jsonpath='{.items[0].spec.nodeName}')
[ "$victim" = node-a ] && survivor=node-b || survivor=node-a
kill -STOP "${AGENT[$victim]}"
moved() { [ "$(movers | grep -c "$survivor *Running")" = 2 ] && [ "$(movers | wc -l)" = 2 ]; }
check "pods of a node that stopped answering run on the other node" wait_for "moved" 40 moved
out=$(kubectl get node "$victim" --no-headers)
check "the cut-off node is NotReady" contains "$out" "NotReady"
kill -CONT "${AGENT[$victim]}"
back() { kubectl get node "$victim" --no-headers | grep -q " Ready "; }
check "the node is Ready again when its agent answers" wait_for "back" 20 back
gone() { [ "$(kubectl get pods -l app=mover --no-headers | wc -l)" = 2 ]; }
check "the returning node finishes its evicted pods' deletion" wait_for "terminated" 20 gone
check "nothing duplicated after it came back" moved

# A node whose clock is ten minutes behind: it says so (log and node events) and stays Ready,
# because liveness is judged by renewals as the server sees them, not by the node's timestamps.
# libfaketime preloaded into the agent itself (the faketime wrapper would stand between the test
# and the agent's PID).
FAKETIME_LIB=$(ls /usr/lib/*/faketime/libfaketimeMT.so.1 2>/dev/null | head -1)
if [ -n "$FAKETIME_LIB" ]; then
  LD_PRELOAD=$FAKETIME_LIB FAKETIME="-10m" "$SKIFF" agent --data-dir "$WORK/skewed" --kubeconfig "$KUBECONFIG" --node-name skewed --runtime process \
    --mesh-port 0 --node-lease-duration 2s >"$WORK/skewed.log" 2>&1 &
  AGENT[skewed]=$!
  skewed_ready() { kubectl get node skewed --no-headers | grep -q " Ready "; }
  check "a node with a skewed clock joins" wait_for "skewed ready" 20 skewed_ready
  check "its agent says its clock is behind" wait_for "skew line" 10 grep -q "clock is 6[0-9][0-9] s behind" "$WORK/skewed.log"
  check "kubectl describe node shows the ClockSkew event" wait_for "event" 10 bash -c "kubectl describe node skewed | grep -q ClockSkew"
  sleep 5
  check "and it stays Ready past the grace period" skewed_ready
fi

# A second agent claiming a live node's name is refused with the reason; nothing changes.
timeout 30 "$SKIFF" agent --data-dir "$WORK/clash" --kubeconfig "$KUBECONFIG" --node-name node-a --runtime process --mesh-port 0 \
  >"$WORK/clash.log" 2>&1 && rc=0 || rc=$?
check "a node name clash is refused" bash -c "[ $rc = 1 ] && grep -q 'node name \"node-a\" is in use' '$WORK/clash.log'"
check "and node-a is still served by its own agent" bash -c "kubectl get node node-a --no-headers | grep -q ' Ready '"

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
