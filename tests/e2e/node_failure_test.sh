#!/usr/bin/env bash
# A node that stops renewing its Lease turns NotReady and is tainted; its pods are evicted when
# their tolerationSeconds run out and run again on the other nodes.
source "$(dirname "$0")/lib.sh"
start_skiff --simulated-nodes 3 --no-agent --node-monitor-grace-period 2s
"$SKIFF" apply -f - >/dev/null <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  replicas: 6
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: a}}
    spec:
      tolerations:
      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 1}
      containers: [{name: c, image: busybox}]
YAML
all_ready() { [ "$(kubectl get deploy app -o jsonpath='{.status.readyReplicas}')" = "6" ]; }
check "6 pods ready on 3 nodes" wait_for ready 20 all_ready
on0=$(kubectl get pods -o jsonpath='{range .items[?(@.spec.nodeName=="sim-node-0")]}{.metadata.name}{"\n"}{end}' | wc -l)
check "sim-node-0 runs some pods" test "$on0" -gt 0
kubectl annotate node sim-node-0 skiff.dev/simulate=dead >/dev/null
notready() { kubectl get node sim-node-0 | grep -q NotReady; }
check "dead node turns NotReady" wait_for notready 15 notready
out=$(kubectl get node sim-node-0 -o jsonpath='{.spec.taints[*].key}')
check "dead node tainted unreachable" contains "$out" "node.kubernetes.io/unreachable"
moved() {
  [ "$(kubectl get pods -o jsonpath='{range .items[?(@.spec.nodeName=="sim-node-0")]}{.metadata.name}{" "}{.metadata.deletionTimestamp}{"\n"}{end}' | awk 'NF==1' | wc -l)" = "0" ] && all_ready
}
check "pods evicted and running elsewhere" wait_for moved 20 moved
out=$(kubectl get pods -o wide --field-selector=status.phase=Running | grep -c "sim-node-[12]")
check "6 running pods on the live nodes" test "$out" -ge 6
out=$(kubectl get pods --field-selector spec.nodeName=sim-node-1 -o name | wc -l)
check "field selector on spec.nodeName" test "$out" -gt 0
kubectl annotate node sim-node-0 skiff.dev/simulate- >/dev/null
ready_again() { kubectl get node sim-node-0 | grep -q " Ready "; }
check "node recovers when the lease is renewed" wait_for recover 15 ready_again

# A Node deleted for good: the pod garbage collector removes the pods bound to it (after its
# quarantine), marked Failed with a DisruptionTarget condition first, as Kubernetes' PodGC does.
kubectl create -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Node
metadata: {name: ghost}
YAML
kubectl create -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: stranded}
spec:
  nodeName: ghost
  containers: [{name: c, image: busybox}]
YAML
kubectl delete node ghost >/dev/null
gone() { ! kubectl get pod stranded >/dev/null 2>&1; }
check "pods of a deleted node are garbage-collected" wait_for podgc 20 gone
out=$(kubectl get events --field-selector involvedObject.name=stranded -o jsonpath='{.items[*].reason}')
check "PodGC event recorded" contains "$out" "PodGC"
finish
