#!/usr/bin/env bash
# Storage as charts expect it: a default StorageClass (local-path, WaitForFirstConsumer, as k3s
# ships), claims that bind when a pod that uses them is scheduled, volumes pinned to that node,
# Immediate classes, static volumes, and volumes deleted with their claims (reclaimPolicy Delete).
source "$(dirname "$0")/lib.sh"
start_skiff --runtime process
NODE=$(kubectl get nodes -o jsonpath='{.items[0].metadata.name}')
out=$(kubectl get storageclass)
check "a default local-path class waits for the first consumer" contains "$out" "local-path (default) *rancher.io/local-path *Delete *WaitForFirstConsumer"

kubectl apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 2Gi}}
YAML
sleep 1
check "a claim nobody uses stays Pending" test "$(kubectl get pvc data -o jsonpath='{.status.phase}')" = Pending
check "… with the default class" test "$(kubectl get pvc data -o jsonpath='{.spec.storageClassName}')" = local-path
waiting() { kubectl get events --field-selector involvedObject.name=data -o jsonpath='{.items[*].reason}' | grep -q WaitForFirstConsumer; }
check "… and says it waits for its first consumer" wait_for "event" 10 waiting

kubectl apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: writer}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'echo kept > /data/file; exec sleep 300']
    volumeMounts: [{name: d, mountPath: /data}]
  volumes: [{name: d, persistentVolumeClaim: {claimName: data}}]
YAML
bound() { [ "$(kubectl get pvc data -o jsonpath='{.status.phase}')" = Bound ]; }
check "scheduling its pod binds the claim" wait_for "bound" 20 bound
PV=$(kubectl get pvc data -o jsonpath='{.spec.volumeName}')
check "to a provisioned volume of the requested size" test "$(kubectl get pv "$PV" -o jsonpath='{.spec.capacity.storage}')" = 2Gi
check "pinned to the pod's node" test "$(kubectl get pv "$PV" -o jsonpath='{.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values[0]}')" = "$NODE"
check "the claim knows the node" test "$(kubectl get pvc data -o jsonpath='{.metadata.annotations.volume\.kubernetes\.io/selected-node}')" = "$NODE"
running() { [ "$(kubectl get pod writer -o jsonpath='{.status.phase}')" = Running ]; }
check "the pod runs with its volume" wait_for "writer running" 20 running

# A class with Immediate binding provisions at once, on no particular node.
kubectl apply -f - >/dev/null <<'YAML'
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: now}
provisioner: rancher.io/local-path
volumeBindingMode: Immediate
reclaimPolicy: Retain
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: eager}
spec:
  storageClassName: now
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
YAML
eager() { [ "$(kubectl get pvc eager -o jsonpath='{.status.phase}')" = Bound ]; }
check "an Immediate class binds without a pod" wait_for "eager bound" 10 eager

# A static volume binds to a claim of its class that fits.
kubectl apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: PersistentVolume
metadata: {name: static-5g}
spec:
  storageClassName: manual
  capacity: {storage: 5Gi}
  accessModes: [ReadWriteOnce]
  local: {path: /srv/static}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: wants-static}
spec:
  storageClassName: manual
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 3Gi}}
YAML
static() { [ "$(kubectl get pvc wants-static -o jsonpath='{.spec.volumeName}')" = static-5g ]; }
check "a claim binds to a static volume that fits" wait_for "static bound" 10 static
check "… which shows its claim" contains "$(kubectl get pv static-5g)" "Bound *default/wants-static"

# A pod whose claim does not exist waits, saying why.
kubectl run orphan --image busybox --restart Never --overrides '{"spec":{"volumes":[{"name":"d","persistentVolumeClaim":{"claimName":"nope"}}],"containers":[{"name":"orphan","image":"busybox","command":["sleep","9"],"volumeMounts":[{"name":"d","mountPath":"/d"}]}]}}' >/dev/null
said() { kubectl get events --field-selector involvedObject.name=orphan -o jsonpath='{.items[*].message}' | grep -q 'persistentvolumeclaim "nope" not found'; }
check "a pod with a missing claim is not scheduled, and says why" wait_for "FailedScheduling" 15 said

# Deleting the claim deletes its provisioned volume (reclaimPolicy Delete); Retain keeps it Released.
kubectl delete pod writer >/dev/null
kubectl delete pvc data eager >/dev/null
gone() { ! kubectl get pv "$PV" >/dev/null 2>&1; }
check "a Delete-policy volume goes with its claim" wait_for "pv deleted" 20 gone
EAGER_PV=$(kubectl get pv -o jsonpath='{range .items[?(@.spec.storageClassName=="now")]}{.metadata.name}{end}')
released() { [ "$(kubectl get pv "$EAGER_PV" -o jsonpath='{.status.phase}')" = Released ]; }
check "a Retain-policy volume stays, Released" wait_for "released" 20 released
finish
