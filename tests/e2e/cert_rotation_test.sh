#!/usr/bin/env bash
# Certificates renew themselves while a node runs, as the kubelet's certificate manager does:
# with the control plane signing for 20 s only (--cluster-signing-duration, kube-controller-
# manager's flag), a joined agent renews its client certificate and its node server's serving
# certificate at 70-90% of their lifetime through the CSR API, with its own identity — so after
# the first certificates have expired the node still renews its Lease and `kubectl logs` still
# reaches its node server.
source "$(dirname "$0")/lib.sh"
AGENT_PID=""
stop_agent() { if [ -n "$AGENT_PID" ] && kill -0 "$AGENT_PID" 2>/dev/null; then kill "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null || true; fi; }
trap 'stop_agent; cleanup' EXIT

set +e
out=$(timeout 10 "$SKIFF" server --data-dir "$WORK/refused" --listen 127.0.0.1:0 --cluster-signing-duration 5 2>&1)
rc=$?
set -e
check "a signing duration that is not a duration is refused" test "$rc" = 1
check "… saying what it takes" contains "$out" "takes a duration of at least 10s"

"$SKIFF" server --data-dir "$WORK/server" --listen 127.0.0.1:0 --cluster-signing-duration 20s >"$WORK/server.log" 2>&1 &
SKIFF_PID=$!
wait_for "server up" 20 grep -q "skiff server is up" "$WORK/server.log" || { cat "$WORK/server.log"; exit 1; }
export KUBECONFIG="$WORK/server/kubeconfig"
URL=$(grep -o 'https://127.0.0.1:[0-9]*' "$WORK/server.log" | head -1)
"$SKIFF" agent --data-dir "$WORK/rot" --server "$URL" --token "$(cat "$WORK/server/node-token")" --node-name rot --runtime process \
  --mesh-port 0 --node-server-port 0 >"$WORK/agent.log" 2>&1 &
AGENT_PID=$!
ready() { kubectl get node rot --no-headers 2>/dev/null | grep -q ' Ready '; }
check "the joined node is Ready" wait_for "node ready" 30 ready

client_cert() { awk '/client-certificate-data:/ {print $2}' "$WORK/rot/agent.kubeconfig" | base64 -d; }
serving_cert() {
  local port
  port=$(kubectl get node rot -o jsonpath='{.status.daemonEndpoints.kubeletEndpoint.Port}')
  openssl s_client -connect "127.0.0.1:$port" </dev/null 2>/dev/null | openssl x509 2>/dev/null
}
first_client=$(client_cert | openssl x509 -noout -serial)
first_serving=""
got_serving() { first_serving=$(serving_cert | openssl x509 -noout -serial 2>/dev/null); [ -n "$first_serving" ]; }
check "the node server answers TLS with its serving certificate" wait_for "serving certificate" 10 got_serving
expiry=$(client_cert | openssl x509 -noout -enddate | cut -d= -f2)
check "the first client certificate lasts what the signer allows (20 s)" \
  test $(( $(date -d "$expiry" +%s) - $(date +%s) )) -le 21

kubectl apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: talker}
spec:
  nodeName: rot
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do echo still-talking; sleep 0.5; done"]
YAML
running() { [ "$(kubectl get pod talker -o jsonpath='{.status.phase}' 2>/dev/null)" = Running ]; }
check "a pod runs on the node" wait_for "pod running" 30 running

client_renewed() { [ "$(client_cert | openssl x509 -noout -serial)" != "$first_client" ]; }
check "the agent renews its client certificate before it expires" wait_for "client renewal" 25 client_renewed
serving_renewed() { [ "$(serving_cert | openssl x509 -noout -serial 2>/dev/null)" != "$first_serving" ]; }
check "the node server renews its serving certificate" wait_for "serving renewal" 25 serving_renewed
check "the agent keeps the renewed credentials privately" test "$(stat -c %a "$WORK/rot/agent.kubeconfig")" = 600
out=$(kubectl get csr --no-headers | grep -c 'system:node:rot.*Approved,Issued' || true)
check "renewals go through the CSR API under the node's own name" test "$out" -ge 3

# Past the first certificates' expiry: everything still works on renewed ones.
while [ "$(date +%s)" -le $(( $(date -d "$expiry" +%s) + 3 )) ]; do sleep 1; done
lease1=$(kubectl get lease -n kube-node-lease rot -o jsonpath='{.spec.renewTime}')
lease_moves() { [ "$(kubectl get lease -n kube-node-lease rot -o jsonpath='{.spec.renewTime}')" != "$lease1" ]; }
check "after the first certificate expired the node still renews its Lease" wait_for "lease renewal" 15 lease_moves
check "… and stays Ready" ready
logs() { kubectl logs talker --tail 1 2>&1 | grep -q still-talking; }
check "kubectl logs still reaches the node server" wait_for "logs" 10 logs
check "the agent says when it renewed" grep -q "renewed the node's client certificate" "$WORK/agent.log"
stop_agent
finish
