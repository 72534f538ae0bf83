#!/usr/bin/env bash
# Nodes that join with the server's token, as kubeadm join / the kubelet's TLS bootstrap: the
# agent checks the cluster CA against the token's signature on cluster-info, gets its own client
# certificate through the CSR API, then its node server certificate and pods' tokens the same
# way; it may touch only its own Node, Lease and pods and what they use. A wrong or revoked token
# is refused with a clear message.
source "$(dirname "$0")/lib.sh"
declare -A AGENT
stop_agents() {
  for pid in "${AGENT[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then kill "$pid"; wait "$pid" 2>/dev/null || true; fi
  done
  AGENT=()
}
trap 'stop_agents; cleanup' EXIT

"$SKIFF" server --data-dir "$WORK/server" --listen 127.0.0.1:0 >"$WORK/server.log" 2>&1 &
SKIFF_PID=$!
wait_for "server up" 20 grep -q "skiff server is up" "$WORK/server.log" || { cat "$WORK/server.log"; exit 1; }
export KUBECONFIG="$WORK/server/kubeconfig"
URL=$(grep -o 'https://127.0.0.1:[0-9]*' "$WORK/server.log" | head -1)
TOKEN=$(cat "$WORK/server/node-token")
check "the server wrote a kubeadm-style node token" bash -c "grep -Eq '^[a-z0-9]{6}\.[a-z0-9]{16}$' <<<'$TOKEN'"
check "the token file is the owner's only" test "$(stat -c %a "$WORK/server/node-token")" = 600
out=$(curl -sk "$URL/api/v1/namespaces/kube-public/configmaps/cluster-info")
check "cluster-info is readable without credentials and signed by the token" contains "$out" "jws-kubeconfig-${TOKEN%%.*}"
code=$(curl -sk -o /dev/null -w '%{http_code}' "$URL/api/v1/namespaces/kube-system/configmaps")
check "nothing else is readable without credentials" test "$code" = 401

start_agent() {  # start_agent NAME [flags]
  local name=$1
  shift
  "$SKIFF" agent --data-dir "$WORK/$name" --server "$URL" --node-name "$name" --runtime process --mesh-port 0 --node-server-port 0 "$@" \
    >>"$WORK/$name.log" 2>&1 &
  AGENT[$name]=$!
}

# A token with the right form and a wrong secret: the agent cannot verify the CA and stops.
set +e
out=$(timeout 20 "$SKIFF" agent --data-dir "$WORK/bad" --server "$URL" --token "${TOKEN%%.*}.0000000000000000" --node-name bad \
  --runtime process --mesh-port 0 2>&1)
rc=$?
set -e
check "a wrong token is refused" test "$rc" -ne 0 -a "$rc" -ne 124
check "… saying the token does not match this cluster" contains "$out" "not signed by this token"

start_agent join-a --token "$TOKEN"
start_agent join-b --token "$TOKEN"
ready() { [ "$(kubectl get nodes --no-headers 2>/dev/null | grep -c ' Ready ')" = 2 ]; }
check "both joined nodes are Ready" wait_for "nodes ready" 30 ready
check "the agent keeps its credentials privately" test "$(stat -c %a "$WORK/join-a/agent.kubeconfig")" = 600
cert=$(awk '/client-certificate-data:/ {print $2}' "$WORK/join-a/agent.kubeconfig" | base64 -d)
subject=$(openssl x509 -noout -subject <<<"$cert")
check "its client certificate names the node in system:nodes" contains "$subject" "O = system:nodes, CN = system:node:join-a"
csrs=$(kubectl get csr --no-headers)
check "the node's client CSR came from the bootstrap token and was issued" \
  bash -c "grep node-csr- <<<'$csrs' | grep 'system:bootstrap:${TOKEN%%.*}' | grep -q 'Approved,Issued'"
check "its serving CSR came from the node itself and was issued" \
  bash -c "grep node-serving- <<<'$csrs' | grep 'system:node:join-a' | grep -q 'Approved,Issued'"

kubectl apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Secret
metadata: {name: used}
stringData: {word: hello-from-a-secret}
---
apiVersion: v1
kind: Secret
metadata: {name: unused}
stringData: {word: nobody-mounts-me}
---
apiVersion: v1
kind: Pod
metadata: {name: on-a}
spec:
  nodeName: join-a
  terminationGracePeriodSeconds: 1
  volumes: [{name: s, secret: {secretName: used}}]
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "echo hello-from-join-a; trap 'exit 0' TERM; while true; do sleep 0.2; done"]
    volumeMounts: [{name: s, mountPath: /etc/s}]
YAML
running() { [ "$(kubectl get pod on-a -o jsonpath='{.status.phase}' 2>/dev/null)" = Running ]; }
check "a pod on a joined node runs" wait_for "pod running" 30 running
logs() { kubectl logs on-a 2>&1 | grep -q hello-from-join-a; }
check "kubectl logs reaches the joined node's server (certificate from the CSR API)" wait_for "logs" 15 logs
# The process runtime mounts nothing: the pod's volumes are files in the agent's data dir.
# Pods' service-account tokens come by TokenRequest, under the node's identity, for its own pods
# only (kubectl create token sends the same request the agent does).
NODE_KC="$WORK/join-a/agent.kubeconfig"
tok=$(kubectl --kubeconfig "$NODE_KC" create token default --bound-object-kind Pod --bound-object-name on-a 2>&1)
# Accepted = authenticated: discovery is every authenticated user's (what it may do beyond is RBAC's).
code=$(curl -sk -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" "$URL/apis")
check "a node gets a token for its pod's service account, which the API accepts" test "$code" = 200
kubectl run on-b --image busybox --restart Never --overrides '{"spec":{"nodeName":"join-b"}}' -- sh -c 'sleep 30' >/dev/null
out=$(kubectl --kubeconfig "$NODE_KC" create token default --bound-object-kind Pod --bound-object-name on-b 2>&1 || true)
check "… but not for another node's pod" contains "$out" "not bound to it"

# The node's own identity is limited to its own.
out=$(kubectl --kubeconfig "$NODE_KC" get secret used -o jsonpath='{.data.word}' 2>&1 | base64 -d 2>/dev/null || true)
check "a node reads a Secret its pod uses" test "$out" = hello-from-a-secret
out=$(kubectl --kubeconfig "$NODE_KC" get secret unused 2>&1 || true)
check "… but not one no pod of its uses" contains "$out" "no relationship found between node 'join-a'"
out=$(kubectl --kubeconfig "$NODE_KC" label node join-b stolen=yes 2>&1 || true)
check "a node cannot change another Node" contains "$out" "Forbidden\|forbidden"
out=$(kubectl --kubeconfig "$NODE_KC" get deployments -A 2>&1 || true)
check "a node cannot read what nodes do not need" contains "$out" "forbidden"
out=$(kubectl --kubeconfig "$NODE_KC" get pods -A --no-headers 2>&1)
check "a node lists pods (its agent and DNS watch them)" contains "$out" "on-a"

# A restarted agent reuses its certificate: no new client CSR.
before=$(kubectl get csr --no-headers | grep -c node-csr-)
kill "${AGENT[join-a]}"; wait "${AGENT[join-a]}" 2>/dev/null || true
start_agent join-a --token "$TOKEN"
check "the restarted node is Ready again" wait_for "nodes ready" 30 ready
after=$(kubectl get csr --no-headers | grep -c node-csr-)
check "a restarted agent keeps its client certificate" test "$before" = "$after"

# Revoking the token (deleting its Secret) stops new joins; joined nodes keep working.
kubectl delete secret -n kube-system "bootstrap-token-${TOKEN%%.*}" >/dev/null
set +e
out=$(timeout 20 "$SKIFF" agent --data-dir "$WORK/late" --server "$URL" --token "$TOKEN" --node-name late --runtime process --mesh-port 0 2>&1)
rc=$?
set -e
check "a revoked token can no longer join" test "$rc" -ne 0
check "… and the agent says why" contains "$out" "signed\|Unauthorized\|not valid"
check "joined nodes stay Ready" ready

# A person's client certificate through the same API: pending until a human approves it.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/jane.key" -subj "/O=devs/CN=jane" \
  -out "$WORK/jane.csr" 2>/dev/null
kubectl apply -f - >/dev/null <<YAML
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata: {name: jane}
spec:
  request: $(base64 -w0 "$WORK/jane.csr")
  signerName: kubernetes.io/kube-apiserver-client
  usages: [client auth]
YAML
sleep 1
out=$(kubectl get csr jane --no-headers)
check "a person's CSR waits for approval" contains "$out" "Pending"
kubectl certificate approve jane >/dev/null
issued() { [ -n "$(kubectl get csr jane -o jsonpath='{.status.certificate}')" ]; }
check "kubectl certificate approve gets it signed" wait_for "jane issued" 10 issued
kubectl get csr jane -o jsonpath='{.status.certificate}' | base64 -d >"$WORK/jane.crt"
out=$(curl -sk --cert "$WORK/jane.crt" --key "$WORK/jane.key" "$URL/api/v1/namespaces/default/pods")
check "the certificate authenticates as its subject" contains "$out" 'jane.*cannot list'

stop_agents
finish
