#!/usr/bin/env bash
# A highly available control plane on one machine: a 3-member etcd cluster on loopback, two
# `skiff server`s on it, one `skiff agent`. Both servers answer the API with the same CA and
# token; one holds the controller Lease. kill -9 of the leader: the other takes over the
# controllers and scheduler, kubectl keeps working against it, and a scale-up issued after the
# kill completes. kill -9 of an etcd member during a stream of writes: no acknowledged write lost.
source "$(dirname "$0")/lib.sh"
command -v etcd >/dev/null || { echo "skipped: needs etcd (apt-get install etcd-server)"; exit 0; }
# Runs once `skiff server` has an etcd store (--store etcd://...).
probe=$("$SKIFF" server --store 2>&1 || true)
if grep -q "unknown flag" <<<"$probe"; then echo "skipped: this skiff has no --store yet"; exit 0; fi
ETCD_PIDS=() SERVERS=() AGENT_PID=
teardown() {
  [ -n "$AGENT_PID" ] && { kill "$AGENT_PID" 2>/dev/null; wait "$AGENT_PID" 2>/dev/null || true; }
  for p in "${SERVERS[@]}" "${ETCD_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${SERVERS[@]}" "${ETCD_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  cleanup
}
trap teardown EXIT

# --- etcd: three members on loopback ---------------------------------------------------------
declare -a CLIENT PEER
for i in 0 1 2; do CLIENT[$i]=$(free_port); PEER[$i]=$(free_port); done
INITIAL="e0=http://127.0.0.1:${PEER[0]},e1=http://127.0.0.1:${PEER[1]},e2=http://127.0.0.1:${PEER[2]}"
start_etcd() {
  local i=$1
  etcd --name "e$i" --data-dir "$WORK/etcd$i" --listen-client-urls "http://127.0.0.1:${CLIENT[$i]}" \
    --advertise-client-urls "http://127.0.0.1:${CLIENT[$i]}" --listen-peer-urls "http://127.0.0.1:${PEER[$i]}" \
    --initial-advertise-peer-urls "http://127.0.0.1:${PEER[$i]}" --initial-cluster "$INITIAL" \
    --initial-cluster-state "${2:-new}" --initial-cluster-token skiff-ha >"$WORK/etcd$i.log" 2>&1 &
  ETCD_PIDS[$i]=$!
}
for i in 0 1 2; do start_etcd "$i"; done
ENDPOINTS="127.0.0.1:${CLIENT[0]},127.0.0.1:${CLIENT[1]},127.0.0.1:${CLIENT[2]}"
wait_for "etcd healthy" 30 etcdctl --endpoints "$ENDPOINTS" endpoint health || { tail -5 "$WORK"/etcd*.log; exit 1; }

# --- two servers on it ---------------------------------------------------------------------------
start_server() {  # start_server N
  "$SKIFF" server --data-dir "$WORK/server$1" --listen "127.0.0.1:0" --store "etcd://$ENDPOINTS" --node-monitor-grace-period 4s \
    >"$WORK/server$1.log" 2>&1 &
  SERVERS[$1]=$!
  wait_for "server $1 up" 30 grep -q "skiff server is up" "$WORK/server$1.log" || { cat "$WORK/server$1.log"; exit 1; }
}
start_server 0
start_server 1
KC0="$WORK/server0/kubeconfig" KC1="$WORK/server1/kubeconfig"
check "both servers share the CA and admin token" bash -c "cmp -s '$WORK/server0/tls/ca.crt' '$WORK/server1/tls/ca.crt' && cmp -s '$WORK/server0/token' '$WORK/server1/token'"
out=$(KUBECONFIG=$KC1 kubectl create namespace made-on-one 2>&1 && KUBECONFIG=$KC0 kubectl get namespace made-on-one --no-headers)
check "a write through one server is read through the other" contains "$out" "made-on-one"
leader() { KUBECONFIG=$KC0 kubectl get lease -n kube-system skiff-controller-manager -o jsonpath='{.spec.holderIdentity}' 2>/dev/null; }
check "one server leads the controllers" wait_for "a leader" 10 test -n "$(leader)"

# The leader is the server whose log says the holder's identity leads.
holder=$(leader)
lead=0
grep -q "$holder now leads" "$WORK/server1.log" && lead=1
other=$((1 - lead))

# A node, with both servers listed, the leader first (so killing it makes the node fail over).
S0=$(awk '/server:/{print $2}' "$KC0") S1=$(awk '/server:/{print $2}' "$KC1")
SERVER_URLS=("$S0" "$S1")
"$SKIFF" agent --data-dir "$WORK/agent" --kubeconfig "$KC0" --server "${SERVER_URLS[$lead]},${SERVER_URLS[$other]}" --node-name ha-node --runtime process --mesh-port 0 \
  --node-lease-duration 2s >"$WORK/agent.log" 2>&1 &
AGENT_PID=$!
check "the node joins" wait_for "node ready" 20 bash -c "KUBECONFIG=$KC0 kubectl get node ha-node --no-headers | grep -q ' Ready '"
KUBECONFIG=$KC0 kubectl create deployment web --image=busybox --replicas=1 -- sh -c "trap 'exit 0' TERM; while true; do sleep 0.2; done" >/dev/null
running() { [ "$(KUBECONFIG=$1 kubectl get pods -l app=web --no-headers 2>/dev/null | grep -c Running)" = "$2" ]; }
check "a deployment runs" wait_for "web running" 30 running "$KC0" 1

# --- kill -9 the leading server -------------------------------------------------------------------
kill -9 "${SERVERS[$lead]}"; wait "${SERVERS[$lead]}" 2>/dev/null || true
KC=$WORK/server$other/kubeconfig
renewed_at_kill=$(KUBECONFIG=$KC kubectl get lease -n kube-node-lease ha-node -o jsonpath='{.spec.renewTime}' 2>/dev/null || true)
check "kubectl keeps working against the other server" env KUBECONFIG="$KC" kubectl get nodes
check "the other server takes the controller Lease" wait_for "new leader" 15 bash -c "KUBECONFIG=$KC kubectl get lease -n kube-system skiff-controller-manager -o jsonpath='{.spec.holderIdentity}' | grep -v '^$holder\$'"
KUBECONFIG=$KC kubectl scale deployment web --replicas=3 >/dev/null
check "a scale-up issued after the kill completes" wait_for "three running" 30 running "$KC" 3
# The node's heartbeat (its Lease) goes on through the surviving server, the only one left.
check "the node fails over to the surviving server" wait_for "node lease renewed" 20 bash -c "[ \"\$(KUBECONFIG=$KC kubectl get lease -n kube-node-lease ha-node -o jsonpath='{.spec.renewTime}')\" != '$renewed_at_kill' ]"
check "the node stays Ready" bash -c "KUBECONFIG=$KC kubectl get node ha-node --no-headers | grep -q ' Ready '"

# --- kill -9 an etcd member during a stream of writes --------------------------------------------
acked="$WORK/acked"
: >"$acked"
( for i in $(seq 1 150); do
    KUBECONFIG=$KC kubectl create configmap "w-$i" --from-literal=i="$i" >/dev/null 2>&1 && echo "w-$i" >>"$acked"
  done ) &
WRITER=$!
sleep 2
# The member that leads etcd now: its death costs an election as well as a connection.
victim=1
status=$(etcdctl --endpoints "$ENDPOINTS" endpoint status -w json 2>/dev/null || true)
for i in 0 1 2; do
  [ "$(jq -r ".[] | select(.Endpoint == \"127.0.0.1:${CLIENT[$i]}\") | (.Status.header.member_id == .Status.leader)" <<<"$status" 2>/dev/null)" = true ] && victim=$i
done
kill -9 "${ETCD_PIDS[$victim]}"; wait "${ETCD_PIDS[$victim]}" 2>/dev/null || true
wait "$WRITER"
n=$(wc -l <"$acked")
check "writes kept being acknowledged with a member down" test "$n" -gt 100
missing=$(comm -23 <(sort "$acked") <(KUBECONFIG=$KC kubectl get configmaps -o name | sed 's|configmap/||' | sort) | wc -l)
check "no acknowledged write lost ($n acknowledged)" test "$missing" = 0

finish
