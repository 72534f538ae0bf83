#!/usr/bin/env bash
# The pod network across nodes: a control plane and three nodes, each a host of its own (network
# namespaces on a test bridge, cluster_lib.sh), running pods with the native runtime. Every Node
# gets its own pod range from the node IPAM; a pod on h1 reaches pods on h2 and h3 by pod IP,
# through a Service's cluster IP and through its DNS name, over the VXLAN overlay; a node that
# leaves (its agent stopped, its Node deleted) leaves the others' routes, and one that joins
# again gets a fresh range and routes on the others. And `skiff up` on a machine of its own still
# needs no network flag: its node gets the first range and no overlay device.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster_lib.sh"

# --- ranges that cannot work are refused at the command line (nothing starts) ------------------
refused() {  # refused "expected message" FLAGS...: skiff server exits 1 with the message
  local want=$1 out rc=0
  shift
  out=$(timeout 10 "$SKIFF" server --data-dir "$WORK/refused" --listen 127.0.0.1:0 "$@" 2>&1) || rc=$?
  [ "$rc" = 1 ] && contains "$out" "$want" && [ ! -e "$WORK/refused" ]
}
check "a cluster CIDR over the service range is refused" refused "overlaps the service range 10.96.0.0/16" --cluster-cidr 10.96.0.0/12
check "a node mask shorter than the cluster CIDR's is refused" refused "must lie between" --node-cidr-mask-size 8
check "a cluster CIDR with host bits is refused, naming the network" refused "the network is 10.244.0.0/16" --cluster-cidr 10.244.1.0/16

cluster_requirements || { finish; echo "skipped the cluster: $CLUSTER_MISSING"; exit 0; }
cluster_hosts cp h1 h2 h3 solo
cluster_registries
# Cluster IPs pods can route to (skiff server alone picks loopback ones, for process-runtime nodes).
cluster_server cp --service-cidr 10.96.0.0/16
# With the mesh: service traffic between nodes goes node proxy to node proxy over mTLS, with
# identities each agent gets through the CSR API.
for h in h1 h2 h3; do cluster_agent "$h" --mesh-port 15008; done
check "three agents in three hosts register Ready nodes" wait_for "nodes ready" 60 cluster_ready_nodes 3

# --- pod ranges -------------------------------------------------------------------------------
cidr() { hk get node "$1" -o jsonpath='{.spec.podCIDR}'; }
has_cidrs() { for h in h1 h2 h3; do [ -n "$(cidr "$h")" ] || return 1; done; }
wait_for "pod ranges" 20 has_cidrs || true
ranges=$(for h in h1 h2 h3; do cidr "$h"; echo; done)
check "every node has a /24 of the cluster CIDR" bash -c "[ \$(grep -cE '^10\.244\.[0-9]+\.0/24$' <<<'$ranges') = 3 ]"
check "no two nodes share a range" bash -c "[ \$(sort -u <<<'$ranges' | grep -c .) = 3 ]"
out=$(hk get node h2 -o jsonpath='{.spec.podCIDRs[0]}')
check "spec.podCIDRs carries the same range" test "$out" = "$(cidr h2)"
net_ok() { [ "$(hk get nodes -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="NetworkUnavailable")].status}{" "}{end}')" = "False False False " ]; }
check "each node reports NetworkUnavailable=False once its pod network is up" wait_for "network conditions" 20 net_ok
out=$(hk get nodes -o jsonpath='{.items[*].spec.taints[*].key}')
check "no node is tainted network-unavailable" lacks "$out" "network-unavailable"
CIDR3=$(cidr h3)

# --- a Deployment spread over the nodes, a Service, a client on h1 -----------------------------
hk apply -f - >/dev/null <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: web}}}
      containers:
      - name: web
        image: $CLUSTER_IMAGE
        ports: [{containerPort: 8080}]
        readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  terminationGracePeriodSeconds: 1
  nodeSelector: {kubernetes.io/hostname: h1}
  containers:
  - name: client
    image: $CLUSTER_IMAGE
    readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
YAML
ready_pods() { [ "$(hk get pods --no-headers 2>/dev/null | grep -c ' 1/1 *Running')" = 4 ]; }
check "the web pods and the client run" wait_for "pods ready" 90 ready_pods
placement=$(hk get pods -l app=web -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | sort | tr '\n' ' ')
check "one web pod per node" test "$placement" = "h1 h2 h3 "
web_on() { hk get pods -l app=web --field-selector "spec.nodeName=$1" -o jsonpath="{.items[0].metadata.name} {.items[0].status.podIP}"; }
read -r WEB2 IP2 <<<"$(web_on h2)"
read -r WEB3 IP3 <<<"$(web_on h3)"
CLIENT_IP=$(hk get pod client -o jsonpath='{.status.podIP}')
in_range() { python3 -c "import ipaddress,sys; sys.exit(0 if ipaddress.ip_address('$1') in ipaddress.ip_network('$2') else 1)"; }
check "pod IPs come from their node's range" bash -c "$(declare -f in_range); in_range '$IP2' '$(cidr h2)' && in_range '$IP3' '$(cidr h3)' && in_range '$CLIENT_IP' '$(cidr h1)'"

# from_client TARGET: the client pod (on h1) fetches http://TARGET and answers with what it got.
from_client() { on h1 curl -s --max-time 10 "http://$CLIENT_IP:8080/cgi-bin/get?$1"; }
out=$(from_client "$IP2:8080/")
check "a pod on h1 reaches the pod on h2 by pod IP" test "$out" = "$WEB2"
out=$(from_client "$IP3:8080/")
check "a pod on h1 reaches the pod on h3 by pod IP" test "$out" = "$WEB3"
CLUSTER_IP=$(hk get svc web -o jsonpath='{.spec.clusterIP}')
# spread_answers TARGET: 30 fetches through TARGET; every web pod must answer some, none may fail.
spread_answers() {
  local all="" i
  for i in $(seq 1 30); do all+="$(from_client "$1")"$'\n'; done
  grep -q "wget failed" <<<"$all" && { echo "a fetch failed: $all"; return 1; }
  grep -qx "$WEB2" <<<"$all" && grep -qx "$WEB3" <<<"$all" || { echo "not every remote pod answered: $all"; return 1; }
}
check "the Service's cluster IP on h1 reaches the endpoints on h2 and h3" spread_answers "$CLUSTER_IP/"
check "so does its DNS name" spread_answers "web.default.svc.cluster.local/"
check "and its short name" spread_answers "web/"
# The cross-node hops were mTLS tunnels between node proxies (the agent's /metrics through nodes/proxy).
out=$(hk get --raw /api/v1/nodes/h1/proxy/metrics | grep 'skiff_mesh_connections_total{direction="outbound",result="established"}' || true)
check "h1's proxy opened mTLS tunnels to the other nodes" bash -c "[ \"\$(awk '{print \$2}' <<<'$out')\" -gt 0 ] 2>/dev/null"
out=$(hk get --raw /api/v1/nodes/h2/proxy/metrics | grep 'skiff_mesh_connections_total{direction="inbound",result="forwarded"}' || true)
check "h2's proxy accepted them" bash -c "[ \"\$(awk '{print \$2}' <<<'$out')\" -gt 0 ] 2>/dev/null"
# An AuthorizationPolicy denying the client's principal holds across nodes.
hk apply -f - >/dev/null <<'YAML'
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-client}
spec:
  selector: {matchLabels: {app: web}}
  action: DENY
  rules:
  - from: [{source: {principals: ["cluster.local/ns/default/sa/default"]}}]
YAML
denied_everywhere() {
  local all="" i
  for i in $(seq 1 10); do all+="$(from_client "$CLUSTER_IP/")"$'\n'; done
  ! grep -qx "$WEB2" <<<"$all" && ! grep -qx "$WEB3" <<<"$all" && grep -q "403\|wget failed" <<<"$all"
}
check "a DENY AuthorizationPolicy on the caller's principal refuses it on the other nodes" wait_for "denied" 15 denied_everywhere
hk delete authorizationpolicy deny-client >/dev/null
check "… and lifting it lets traffic through again" wait_for "allowed again" 15 spread_answers "$CLUSTER_IP/"

# kubectl port-forward from the server's host to a pod on h2: API server → h2's node server → the pod's network namespace.
start_in cp "$WORK/pf.log" kubectl port-forward "pod/$WEB2" 18090:8080
PF_PID=$STARTED_PID
check "kubectl port-forward to a pod on another node listens" wait_for "port-forward" 15 grep -q "Forwarding from 127.0.0.1:18090" "$WORK/pf.log"
pf_answer() { [ "$(on cp curl -s --max-time 5 http://127.0.0.1:18090/)" = "$WEB2" ]; }
check "… and reaches it" wait_for "port-forward answer" 10 pf_answer
stop_pid "$PF_PID"
csrs=$(hk get csr --no-headers)
check "h1's proxy got its mesh identities through the CSR API" \
  bash -c "grep -c 'skiff.dev/mesh-workload *system:node:h1 .*Approved,Issued' <<<'$csrs' | grep -qv '^[01]$'"
out=$(on h1 openssl s_client -connect "${HOST_IP[h2]}:15008" -CAfile "$WORK/cp/tls/ca.crt" -showcerts </dev/null 2>&1 || true)
check "h2's mesh port chains to the cluster CA" contains "$out" "Verify return code: 0"
san=$(awk '/BEGIN CERTIFICATE/{p=1} p{print} /END CERTIFICATE/{exit}' <<<"$out" | openssl x509 -noout -ext subjectAltName 2>&1)
check "… as spiffe://cluster.local/node/h2" contains "$san" "URI:spiffe://cluster.local/node/h2"

# --- a node leaves: its routes go from the others ---------------------------------------------
routes_to() { on "$1" ip route show "$2"; }
check "h1 routes h3's range through the overlay" contains "$(routes_to h1 "$CIDR3")" "dev skiff.1"
cluster_agent_stop h3
hk delete node h3 >/dev/null
gone_from() { [ -z "$(routes_to "$1" "$CIDR3")" ] && ! on "$1" bridge fdb show dev skiff.1 | grep -q "dst ${HOST_IP[h3]}"; }
check "h1 forgets h3's route and forwarding entry" wait_for "h3 gone from h1" 10 gone_from h1
check "h2 forgets them too" wait_for "h3 gone from h2" 10 gone_from h2
check "h2's route stays on h1" contains "$(routes_to h1 "$(cidr h2)")" "dev skiff.1"

# --- it joins again: a fresh range, routes on the others, reachable ---------------------------
cluster_agent h3 --mesh-port 15008
check "h3 registers again" wait_for "h3 back" 30 cluster_ready_nodes 3
has_cidr() { [ -n "$(cidr "$1")" ]; }
wait_for "h3's range" 10 has_cidr h3 || true
NEW3=$(cidr h3)
check "the new Node gets a range (not the one just freed: allocation moves on)" bash -c "[ -n '$NEW3' ] && [ '$NEW3' != '$CIDR3' ]"
check "h1 routes h3's new range" wait_for "new route" 10 bash -c "ip -n ${HOST_NS[h1]} route show '$NEW3' | grep -q skiff.1"
# The web pod that was on h3 comes back on h3 (one per node), in the new range.
# Until the agent reports it again the pod's status may still show the old range's address.
back_on_h3() {
  [ "$(hk get pods -l app=web --field-selector spec.nodeName=h3 --no-headers 2>/dev/null | grep -c ' 1/1 *Running')" = 1 ] &&
    in_range "$(web_on h3 | cut -d' ' -f2)" "$NEW3"
}
check "a web pod runs on h3 again" wait_for "web on h3" 60 back_on_h3
read -r WEB3 IP3 <<<"$(web_on h3)"
# The first packets may wait on the other hosts' overlay pass (neighbour and FDB entries).
reached() { [ "$(from_client "$IP3:8080/")" = "$WEB3" ]; }
check "the pod on h3 is reached from h1 at its new address" wait_for "h3's pod reachable" 15 reached

# Joined agents get pods' service-account tokens through TokenRequest, with their own identity.
WEB2=$(web_on h2 | cut -d' ' -f1)
out=$(hk exec "$WEB2" -- sh -c 'test -s /var/run/secrets/kubernetes.io/serviceaccount/token && cat /var/run/secrets/kubernetes.io/serviceaccount/namespace' 2>&1 || true)
check "kubectl exec reaches a joined node, whose pod got its service-account token" test "$out" = default
check "… and no agent failed to get one" bash -c "! grep -q 'no service-account token' '$WORK'/h1.log '$WORK'/h2.log '$WORK'/h3.log"

# --- nothing the agents made outlives them in the hosts (the overlay device stays, as flannel's)
for h in h1 h2 h3; do cluster_agent_stop "$h"; done
left=$(for h in h1 h2 h3; do on "$h" ip -o link show | grep -E 'skiff0|sk[0-9a-f]{8}' || true; done)
check "stopped agents leave no bridge or pod veth behind" test -z "$left"
check "the VXLAN device stays for pods that outlive an agent" bash -c "ip -n ${HOST_NS[h1]} -d link show skiff.1 | grep -q 'vxlan id 1'"

# --- one machine: skiff up, no flags about networks --------------------------------------------
start_in solo "$WORK/solo-up.log" "$SKIFF" up --data-dir "$WORK/solo" --listen "${HOST_IP[solo]}:6443" --runtime native \
  --node-ip "${HOST_IP[solo]}"
HOST_PID[solo]=$STARTED_PID
check "skiff up starts" wait_for "up" 30 grep -q "skiff is up" "$WORK/solo-up.log"
sk() { on solo kubectl --kubeconfig "$WORK/solo/kubeconfig" "$@"; }
sk run alone --image "$CLUSTER_IMAGE" --restart Never >/dev/null
alone_running() { [ "$(sk get pod alone -o jsonpath='{.status.phase}' 2>/dev/null)" = Running ]; }
check "a pod runs" wait_for "alone" 60 alone_running
NODE=$(sk get nodes -o jsonpath='{.items[0].metadata.name}')
check "the node gets the first range of the default cluster CIDR" test "$(sk get node "$NODE" -o jsonpath='{.spec.podCIDR}')" = 10.244.0.0/24
ALONE_IP=$(sk get pod alone -o jsonpath='{.status.podIP}')
check "the pod's address is in it" bash -c "$(declare -f in_range); in_range '$ALONE_IP' 10.244.0.0/24"
check "and it answers" bash -c "[ \"\$(ip netns exec ${HOST_NS[solo]} curl -s --max-time 5 http://$ALONE_IP:8080/)\" = alone ]"
check "no overlay device on a machine alone" bash -c "! ip -n ${HOST_NS[solo]} link show skiff.1 2>/dev/null"
finish
