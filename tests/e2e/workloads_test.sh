#!/usr/bin/env bash
# Controllers and scheduler end to end on simulated nodes: Deployment -> ReplicaSet -> Pods,
# scheduling, self-healing, scaling, rolling update, rollback, pause, garbage collection.
source "$(dirname "$0")/lib.sh"
start_skiff --simulated-nodes 3 --no-agent
K() { kubectl --request-timeout=20s "$@"; }
ready_is() { [ "$("$SKIFF" get deploy "$1" -o json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("status",{}).get("readyReplicas",0))')" = "$2" ]; }

"$SKIFF" apply -f - >/dev/null <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  strategy: {rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: "busybox:1.36", resources: {requests: {cpu: 100m, memory: 64Mi}}}
YAML
check "deployment converges to 3 ready" wait_for "3 ready" 20 ready_is web 3
out=$("$SKIFF" get pods -o wide)
check "pods are Running on simulated nodes" contains "$out" "Running.*sim-node-"
nodes=$("$SKIFF" get pods -o wide --no-headers | awk '{print $7}' | sort -u | wc -l)
check "pods spread over the nodes" test "$nodes" -eq 3

# Self-healing: a deleted pod is replaced.
victim=$("$SKIFF" get pods -o name | head -1 | sed 's|pod/||')
"$SKIFF" delete pod "$victim" >/dev/null
check "deleted pod replaced" wait_for "3 ready after delete" 20 ready_is web 3
out=$("$SKIFF" get pods -o name)
check "the deleted pod is gone" lacks "$out" "$victim"

# Scaling through the scale subresource (skiff and kubectl).
"$SKIFF" scale deploy/web --replicas=5 >/dev/null
check "skiff scale up" wait_for "5 ready" 20 ready_is web 5
K scale deploy/web --replicas=2 >/dev/null
check "kubectl scale down" wait_for "2 ready" 20 ready_is web 2

# Rolling update, status, history, undo.
K set image deploy/web web=busybox:1.37 >/dev/null
out=$(K rollout status deploy/web --timeout=30s 2>&1)
check "kubectl rollout status" contains "$out" 'successfully rolled out'
out=$(K get deploy web -o jsonpath='{.spec.template.spec.containers[0].image} {.status.updatedReplicas}/{.status.replicas}')
check "new image rolled out" contains "$out" "busybox:1.37 2/2"
out=$("$SKIFF" rollout history deploy/web)
check "two revisions" contains "$out" "2 "
"$SKIFF" rollout undo deploy/web >/dev/null
out=$("$SKIFF" rollout status deploy/web --timeout 30)
check "skiff rollout undo + status" contains "$out" 'successfully rolled out'
out=$(K get deploy web -o jsonpath='{.spec.template.spec.containers[0].image}')
check "rolled back to the old image" contains "$out" "busybox:1.36"
rs=$("$SKIFF" get rs --no-headers | wc -l)
check "rollback reuses the old ReplicaSet" test "$rs" -eq 2
out=$(K get deploy web -o jsonpath='{.status.conditions[?(@.type=="Available")].status} {.status.conditions[?(@.type=="Progressing")].reason}')
check "conditions Available/Progressing" contains "$out" "True NewReplicaSetAvailable"

# Pause: template changes wait; resume rolls them out.
"$SKIFF" rollout pause deploy/web >/dev/null
K set env deploy/web MODE=paused >/dev/null
sleep 1
rs=$("$SKIFF" get rs --no-headers | wc -l)
check "paused deployment does not roll out" test "$rs" -eq 2
"$SKIFF" rollout resume deploy/web >/dev/null
out=$("$SKIFF" rollout status deploy/web --timeout 30)
check "resumed deployment rolls out" contains "$out" 'successfully rolled out'

# Recreate strategy and a bad spec refused with field paths.
out=$(K patch deploy web --type=merge -p '{"spec":{"strategy":{"type":"Sideways"}}}' 2>&1 || true)
check "unknown strategy refused" contains "$out" 'spec.strategy.type: Unsupported value: "Sideways"'
out=$(K patch deploy web --type=merge -p '{"spec":{"replicas":-2}}' 2>&1 || true)
check "negative replicas refused" contains "$out" "spec.replicas: Invalid value: -2"

# Unschedulable pods say why, and stay Pending.
"$SKIFF" apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: too-big}
spec:
  containers: [{name: c, image: busybox, resources: {requests: {cpu: "64"}}}]
YAML
msg() { "$SKIFF" get pod too-big -o json | grep -q "Insufficient cpu"; }
check "unschedulable reason recorded" wait_for "reason" 10 msg
out=$(K get pod too-big -o jsonpath='{.status.conditions[0].message}')
check "reason in Kubernetes' words" contains "$out" "0/3 nodes are available: 3 Insufficient cpu."
"$SKIFF" apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: pinned}
spec:
  nodeSelector: {topology.kubernetes.io/zone: zone-1}
  containers: [{name: c, image: busybox}]
YAML
placed() { [ "$(K get pod pinned -o jsonpath='{.spec.nodeName}')" = "sim-node-1" ]; }
check "nodeSelector placement" wait_for "pinned placed" 10 placed

# Pod anti-affinity: one replica per node, the fourth stays Pending and says why.
"$SKIFF" apply -f - >/dev/null <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: apart}
spec:
  replicas: 4
  selector: {matchLabels: {app: apart}}
  template:
    metadata: {labels: {app: apart}}
    spec:
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - {labelSelector: {matchLabels: {app: apart}}, topologyKey: kubernetes.io/hostname}
      containers: [{name: c, image: busybox}]
YAML
check "anti-affinity: 3 of 4 ready" wait_for "3 ready" 20 ready_is apart 3
pending() { kubectl get pods -l app=apart -o jsonpath='{.items[*].status.conditions[*].message}' | grep -q "didn't match pod anti-affinity rules"; }
check "anti-affinity: the 4th says why" wait_for "reason" 10 pending
out=$(kubectl get pods -l app=apart -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | sort | uniq -d)
check "anti-affinity: no two on one node" test -z "$out"
"$SKIFF" delete deploy apart >/dev/null

# Topology spread over zones: 6 replicas on 3 zones, 2 each.
"$SKIFF" apply -f - >/dev/null <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: spread}
spec:
  replicas: 6
  selector: {matchLabels: {app: spread}}
  template:
    metadata: {labels: {app: spread}}
    spec:
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: spread}}}
      containers: [{name: c, image: busybox}]
YAML
check "spread: 6 ready" wait_for "6 ready" 20 ready_is spread 6
out=$(kubectl get pods -l app=spread -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | sort | uniq -c | awk '{print $1}' | sort -u | tr '\n' ' ')
check "spread: 2 per zone" test "$out" = "2 "
"$SKIFF" delete deploy spread >/dev/null

# StatefulSet: stable ordinal names, ordered start, scale down from the top, rolling update.
"$SKIFF" apply -f - >/dev/null <<'YAML'
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 3
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: c, image: "busybox:1"}]}
YAML
sts_ready() { [ "$(kubectl get sts db -o jsonpath='{.status.readyReplicas}')" = "$1" ]; }
check "statefulset: 3 ready" wait_for "3 ready" 20 sts_ready 3
out=$("$SKIFF" get pods -l app=db -o name | sort | tr '\n' ' ')
check "statefulset: stable names" test "$out" = "pod/db-0 pod/db-1 pod/db-2 "
out=$(kubectl get pod db-1 -o jsonpath='{.spec.hostname}.{.spec.subdomain}')
check "statefulset: hostname and subdomain" test "$out" = "db-1.db"
kubectl scale sts db --replicas=1 >/dev/null
check "statefulset: scale down" wait_for "1 ready" 20 sts_ready 1
out=$("$SKIFF" get pods -l app=db -o name)
check "statefulset: db-0 is the one kept" test "$out" = "pod/db-0"
kubectl set image sts/db c=busybox:2 >/dev/null
updated() { [ "$(kubectl get pod db-0 -o jsonpath='{.spec.containers[0].image}')" = "busybox:2" ] && sts_ready 1; }
check "statefulset: rolling update replaces the pod" wait_for "updated" 20 updated
"$SKIFF" delete sts db >/dev/null

# Priority and preemption: a high-priority pod evicts a lower-priority one to fit.
"$SKIFF" apply -f - >/dev/null <<'YAML'
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: high}
value: 1000
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: filler}
spec:
  replicas: 3
  selector: {matchLabels: {app: filler}}
  template:
    metadata: {labels: {app: filler}}
    spec: {containers: [{name: c, image: busybox, resources: {requests: {cpu: "7"}}}]}
YAML
check "filler pods take the cpu of every node" wait_for "filler" 20 ready_is filler 3
"$SKIFF" apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: vip}
spec:
  priorityClassName: high
  containers: [{name: c, image: busybox, resources: {requests: {cpu: "2"}}}]
YAML
out=$(kubectl get pod vip -o jsonpath='{.spec.priority}')
check "priorityClassName resolves to spec.priority" test "$out" = 1000
vip_running() { kubectl get pod vip | grep -q Running; }
check "high-priority pod preempts its way in" wait_for "vip" 20 vip_running
out=$("$SKIFF" events)
check "preemption recorded" contains "$out" "Preempted.*Preempted by pod"
out=$(printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: nope}\nspec:\n  priorityClassName: missing\n  containers: [{name: c, image: busybox}]\n' | "$SKIFF" apply -f - 2>&1 || true)
check "unknown priority class refused" contains "$out" "no PriorityClass with name missing was found"
"$SKIFF" delete deploy filler >/dev/null
"$SKIFF" delete pod vip >/dev/null

# Garbage collection: deleting the Deployment removes its ReplicaSets and pods.
K delete deploy web >/dev/null
gone() { [ -z "$("$SKIFF" get rs -o name)" ] && ! "$SKIFF" get pods -o name | grep -q web-; }
check "cascading delete (background)" wait_for "rs and pods gone" 20 gone
# Orphan: the ReplicaSet survives its Deployment, un-owned.
"$SKIFF" apply -f - >/dev/null <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: keep}
spec:
  replicas: 1
  selector: {matchLabels: {app: keep}}
  template:
    metadata: {labels: {app: keep}}
    spec: {containers: [{name: c, image: busybox}]}
YAML
check "second deployment ready" wait_for "keep ready" 20 ready_is keep 1
K delete deploy keep --cascade=orphan >/dev/null
out=$("$SKIFF" get rs -o json)
check "orphaned ReplicaSet kept" contains "$out" '"name": "keep-'
check "orphaned ReplicaSet has no owner" lacks "$out" '"kind": "Deployment"'
finish
