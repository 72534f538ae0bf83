#!/usr/bin/env bash
# The node server (the kubelet's port): the Node publishes it, kubectl's logs -f, exec with stdin
# and top reach it through the API server, nodes/proxy relays to it, and a caller without the
# API server's client certificate (or the admin token) is refused.
source "$(dirname "$0")/lib.sh"
# A port already held on this machine (as by a kubelet on 10250): skiff must still start.
TAKEN=$(free_port)
python3 -c "import socket,time; s=socket.socket(); s.bind(('0.0.0.0', $TAKEN)); s.listen(); time.sleep(120)" &
HOLDER=$!
trap 'kill $HOLDER 2>/dev/null || true; cleanup' EXIT
sleep 0.3
start_skiff --node-server-port "$TAKEN"
NODE=$(kubectl get nodes -o jsonpath='{.items[0].metadata.name}')
NPORT=$(kubectl get node "$NODE" -o jsonpath='{.status.daemonEndpoints.kubeletEndpoint.Port}')
NIP=$(kubectl get node "$NODE" -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}')
check "the Node publishes its node server's port" bash -c "[ '${NPORT:-0}' -gt 0 ]"
check "a taken port makes the node server pick another, not fail" bash -c "[ '$NPORT' != '$TAKEN' ] && grep -q 'port $TAKEN is taken' '$WORK/up.log'"
check "the Node's InternalIP is loopback with the process runtime" test "$NIP" = 127.0.0.1
check "the node server answers health without identity" contains "$(curl -s --cacert "$CA" "https://127.0.0.1:$NPORT/healthz")" ok

# --- who may call it ------------------------------------------------------------------------
code=$(curl -s -o "$WORK/anon.out" -w '%{http_code}' --cacert "$CA" "https://127.0.0.1:$NPORT/pods")
check "no client certificate: 401" test "$code" = 401
check "the refusal says what is needed" contains "$(cat "$WORK/anon.out")" "needs a client certificate signed by the cluster CA"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=kube-apiserver-kubelet-client" -days 1 \
  -keyout "$WORK/self.key" -out "$WORK/self.crt" 2>/dev/null
code=$(curl -s -o "$WORK/self.out" -w '%{http_code}' --cacert "$CA" --cert "$WORK/self.crt" --key "$WORK/self.key" "https://127.0.0.1:$NPORT/pods")
check "a self-signed certificate with the API server's name: 401" test "$code" = 401
check "the refusal says the certificate is not valid" contains "$(cat "$WORK/self.out")" "not valid here"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=someone" -keyout "$WORK/someone.key" -out "$WORK/someone.csr" 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' >"$WORK/ext"
openssl x509 -req -in "$WORK/someone.csr" -CA "$CA" -CAkey "$WORK/data/tls/ca.key" -CAcreateserial -days 1 -extfile "$WORK/ext" \
  -out "$WORK/someone.crt" 2>/dev/null
code=$(curl -s -o "$WORK/someone.out" -w '%{http_code}' --cacert "$CA" --cert "$WORK/someone.crt" --key "$WORK/someone.key" "https://127.0.0.1:$NPORT/pods")
check "a cluster certificate of another identity: 403" test "$code" = 403
check "the 403 names the identity" contains "$(cat "$WORK/someone.out")" 'user \\"someone\\" may not use the node server'
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" -H "Authorization: Bearer $TOKEN" "https://127.0.0.1:$NPORT/pods")
check "the admin token is accepted" test "$code" = 200

# --- logs, exec, top through the API server --------------------------------------------------
"$SKIFF" apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: ticker}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.3; done"]
YAML
running() { [ "$(kubectl get pod ticker -o jsonpath='{.status.phase}')" = Running ]; }
check "the pod runs" wait_for running 20 running
sleep 1
out=$(timeout 3 kubectl logs -f ticker || true)
first=$(grep -o 'tick-[0-9]*' <<<"$out" | head -1 | cut -d- -f2)
last=$(grep -o 'tick-[0-9]*' <<<"$out" | tail -1 | cut -d- -f2)
check "kubectl logs -f streams lines written after it started" bash -c "[ -n '$last' ] && [ $((${last:-0} - ${first:-0})) -ge 4 ]"
out=$(kubectl logs ticker --tail=1)
check "kubectl logs --tail=1 gives one line" test "$(wc -l <<<"$out")" = 1
out=$(printf 'line-one\nline-two\n' | kubectl exec -i ticker -- sh -c 'cat; echo to-stderr >&2; exit 4' 2>&1) && rc=0 || rc=$?
check "kubectl exec -i relays stdin and stdout" contains "$out" "line-two"
check "kubectl exec -i relays stderr" contains "$out" "to-stderr"
check "kubectl exec -i returns the exit code" test "$rc" = 4
out=$(timeout 3 kubectl attach ticker 2>&1 || true)
check "kubectl attach streams the container's output" contains "$out" "tick-"
out=$(kubectl attach -i ticker </dev/null 2>&1 || true)
check "kubectl attach -i says containers have no stdin" contains "$out" "no stdin or terminal to attach to"
# port-forward has its own test (port_forward_test.sh); a bare SPDY upgrade (kubectl's fallback) is refused with the reason.
out=$(curl -s --cacert "$CA" -H "Authorization: Bearer $TOKEN" -H "Connection: Upgrade" -H "Upgrade: SPDY/3.1" -X POST \
  "$SERVER/api/v1/namespaces/default/pods/ticker/portforward?ports=80")
check "a bare SPDY upgrade is refused naming the tunnelled protocol" contains "$out" "SPDY/3.1+portforward.k8s.io"
top_ready() { kubectl top pod ticker --no-headers 2>/dev/null | grep -q ticker; }
check "kubectl top pod reads the node's summary" wait_for top 20 top_ready
check "kubectl top node lists this node" contains "$(kubectl top node 2>&1)" "$NODE"
out=$(kubectl get --raw "/api/v1/nodes/$NODE/proxy/stats/summary")
check "nodes/proxy relays to the node server" contains "$out" '"podRef"'
out=$(kubectl get --raw "/api/v1/nodes/$NODE/proxy/pods")
check "nodes/proxy lists the node's pods" contains "$out" '"ticker"'

# --- a node that cannot be reached ------------------------------------------------------------
DEAD=$(free_port)
kubectl patch node "$NODE" --subresource=status --type=merge -p "{\"status\":{\"daemonEndpoints\":{\"kubeletEndpoint\":{\"Port\":$DEAD}}}}" >/dev/null
out=$(kubectl logs ticker 2>&1 || true)
check "an unreachable node server is a clear error" contains "$out" "cannot reach the node server of $NODE at 127.0.0.1:$DEAD"
kubectl patch node "$NODE" --subresource=status --type=merge -p "{\"status\":{\"daemonEndpoints\":{\"kubeletEndpoint\":{\"Port\":$NPORT}}}}" >/dev/null
check "logs work again once the Node points at its server" contains "$(kubectl logs ticker --tail=1)" "tick-"

"$SKIFF" delete pod ticker --now >/dev/null 2>&1 || true
finish
