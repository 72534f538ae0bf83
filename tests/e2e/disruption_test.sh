#!/usr/bin/env bash
# PodDisruptionBudgets end to end on simulated nodes (their pods report Ready): the disruption
# controller's status, the pods/eviction subresource (allowed, 429 when the budget forbids, 500
# for two budgets), and `kubectl drain` evicting through it while the budget holds.
source "$(dirname "$0")/lib.sh"
if ! command -v kubectl >/dev/null; then echo "kubectl not installed: skipping"; echo "0 passed, 0 failed"; exit 0; fi
start_skiff --simulated-nodes 2 --no-agent
K() { kubectl --request-timeout=20s "$@"; }
allowed_is() { [ "$(K get pdb web -o jsonpath='{.status.disruptionsAllowed}')" = "$1" ]; }
ready_is() { [ "$(K get deploy web -o jsonpath='{.status.readyReplicas}')" = "$1" ]; }
evict() {  # evict POD [apiVersion]: the body, then the HTTP code
  api POST "/api/v1/namespaces/default/pods/$1/eviction" -H 'Content-Type: application/json' \
    -d "{\"apiVersion\":\"${2:-policy/v1}\",\"kind\":\"Eviction\",\"metadata\":{\"name\":\"$1\",\"namespace\":\"default\"}}"
}
web_pods() { K get pods -l app=web --field-selector=status.phase=Running -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}'; }

out=$(K get --raw /api/v1)
check "discovery lists pods/eviction as policy/v1 Eviction (kubectl drain looks for it)" \
  python3 -c 'import json,sys; r=[x for x in json.loads(sys.argv[1])["resources"] if x["name"]=="pods/eviction"]; assert r and r[0]["group"]=="policy" and r[0]["version"]=="v1" and r[0]["kind"]=="Eviction" and r[0]["verbs"]==["create"], r' "$out"
out=$(K api-resources --api-group=policy)
check "kubectl api-resources shows pdb" contains "$out" "poddisruptionbudgets *pdb *policy/v1 *true *PodDisruptionBudget"

K apply -f - >/dev/null <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: "busybox:1.36", resources: {requests: {cpu: 100m, memory: 64Mi}}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web}
spec:
  minAvailable: 2
  selector: {matchLabels: {app: web}}
YAML
check "deployment converges to 3 ready" wait_for "3 ready" 30 ready_is 3
check "the budget allows one disruption" wait_for "disruptionsAllowed=1" 30 allowed_is 1
status=$(K get pdb web -o json)
check "status counts healthy, desired and expected pods" python3 -c '
import json,sys; s=json.loads(sys.argv[1])["status"]
assert (s["currentHealthy"], s["desiredHealthy"], s["expectedPods"], s["observedGeneration"]) == (3, 2, 3, 1), s
c=[c for c in s["conditions"] if c["type"]=="DisruptionAllowed"][0]
assert (c["status"], c["reason"]) == ("True", "SufficientPods"), c' "$status"
out=$(K get pdb)
check "kubectl get pdb shows kubectl's columns" contains "$out" "NAME *MIN AVAILABLE *MAX UNAVAILABLE *ALLOWED DISRUPTIONS *AGE"
check "kubectl get pdb shows the budget" contains "$out" "^web *2 *N/A *1 "

out=$(K create -f - 2>&1 <<'YAML' || true
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: both}
spec: {minAvailable: 1, maxUnavailable: "200%", selector: {matchLabels: {app: web}}}
YAML
)
check "a budget with both bounds is refused" contains "$out" "spec.minAvailable: Invalid value: 1: minAvailable and maxUnavailable cannot be both set"
check "a percentage over 100% is refused" contains "$out" "must not be greater than 100%"

out=$(K create pdb db --selector=app=db --max-unavailable=50% 2>&1)
check "kubectl create pdb (a protobuf body)" contains "$out" "poddisruptionbudget.policy/db created"
out=$(K get pdb db -o jsonpath='{.spec.maxUnavailable} {.spec.selector.matchLabels.app}')
check "its spec as given" test "$out" = "50% db"
K delete pdb db >/dev/null

# Cordon both nodes so the evicted pod's replacement stays Pending (not healthy): the budget is
# then spent until the nodes come back.
node1=$(K get nodes -o jsonpath='{.items[0].metadata.name}')
node2=$(K get nodes -o jsonpath='{.items[1].metadata.name}')
K cordon "$node1" "$node2" >/dev/null
mapfile -t pods < <(web_pods)
out=$(evict "${pods[0]}")
check "an eviction the budget allows is accepted (201 Success)" contains "$out" '"status":"Success"'
check "its code is 201" test "$(tail -1 <<<"$out")" = 201
gone() { ! K get pod "${pods[0]}" >/dev/null 2>&1; }
check "the evicted pod is deleted" wait_for "evicted pod gone" 20 gone
out=$(evict "${pods[1]}" policy/v1beta1)
check "a second eviction is refused with 429" test "$(tail -1 <<<"$out")" = 429
check "the refusal says why" contains "$out" "Cannot evict pod as it would violate the pod's disruption budget."
check "the refusal names the budget in a DisruptionBudget cause" contains "$out" '"reason":"DisruptionBudget","message":"The disruption budget web needs 2 healthy pods and has 2 currently"'
check "the refused pod stays" K get pod "${pods[1]}"
status=$(K get pdb web -o json)
check "the budget shows no disruption allowed, InsufficientPods" python3 -c '
import json,sys; s=json.loads(sys.argv[1])["status"]
assert s["disruptionsAllowed"] == 0 and s["currentHealthy"] == 2, s
c=[c for c in s["conditions"] if c["type"]=="DisruptionAllowed"][0]
assert (c["status"], c["reason"]) == ("False", "InsufficientPods"), c' "$status"

K apply -f - >/dev/null <<'YAML'
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web-extra}
spec: {maxUnavailable: 1, selector: {matchLabels: {app: web}}}
YAML
out=$(evict "${pods[1]}")
check "a pod with two budgets cannot be evicted (500)" test "$(tail -1 <<<"$out")" = 500
check "and the answer says so" contains "$out" "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."
K delete pdb web-extra >/dev/null

K uncordon "$node1" "$node2" >/dev/null
check "the replacement runs once the nodes are back" wait_for "3 ready" 30 ready_is 3
check "the budget allows one disruption again" wait_for "disruptionsAllowed=1" 30 allowed_is 1

# Drain the node holding the most web pods: kubectl evicts them (never below minAvailable) and
# the Deployment brings them back on the other node.
busiest=$(K get pods -l app=web -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | sort | uniq -c | sort -rn | awk 'NR==1{print $2}')
onBusiest=$(K get pods -l app=web --field-selector "spec.nodeName=$busiest" -o name | wc -l)
other=$([ "$busiest" = "$node1" ] && echo "$node2" || echo "$node1")
out=$(kubectl drain "$busiest" --ignore-daemonsets --delete-emptydir-data --timeout=60s 2>&1) && drained=0 || drained=$?
check "kubectl drain completes" test "$drained" -eq 0
check "drain says the node is drained" contains "$out" "node/$busiest drained"
check "drain evicted through the eviction API" contains "$out" "evicted"
if [ "$onBusiest" -ge 2 ]; then
  check "drain waited on the budget (429, retried)" contains "$out" "Cannot evict pod as it would violate the pod's disruption budget"
fi
check "the pods are back: 3 ready" wait_for "3 ready after drain" 30 ready_is 3
out=$(K get pods -l app=web -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | sort -u)
check "every web pod runs on the other node" test "$out" = "$other"
out=$(K get node "$busiest")
check "the drained node is cordoned" contains "$out" "SchedulingDisabled"
check "the budget recovers" wait_for "disruptionsAllowed=1" 30 allowed_is 1
out=$(K get pdb web)
check "kubectl get pdb after the drain" contains "$out" "^web *2 *N/A *1 "

stop_skiff
finish
