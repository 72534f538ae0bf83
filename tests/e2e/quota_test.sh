#!/usr/bin/env bash
# ResourceQuota and LimitRange as Kubernetes enforces them at admission: defaults filled in,
# bounds refused with Kubernetes' messages, a quota's last unit taken once, and its status kept
# for `kubectl describe quota`.
source "$(dirname "$0")/lib.sh"
start_skiff
kubectl create namespace team >/dev/null
kubectl apply -n team -f - >/dev/null <<'YAML'
apiVersion: v1
kind: LimitRange
metadata: {name: defaults}
spec:
  limits:
  - type: Container
    default: {cpu: 500m, memory: 256Mi}
    defaultRequest: {cpu: 100m, memory: 64Mi}
    max: {cpu: "1", memory: 512Mi}
    min: {cpu: 50m}
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: compute}
spec:
  hard: {pods: "2", limits.cpu: "1", requests.memory: 1Gi, configmaps: "3"}
YAML
pod() {  # pod NAME [cpu-limit]
  local limits=""
  [ -n "${2:-}" ] && limits="resources: {limits: {cpu: \"$2\"}}"
  printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: %s}\nspec:\n  containers:\n  - name: app\n    image: busybox\n    command: [sleep, "3600"]\n    %s\n' "$1" "$limits"
}
check "a pod without resources is admitted" sh -c "$(declare -f pod); pod a | kubectl apply -n team -f -"
out=$(kubectl get pod a -n team -o jsonpath='{.spec.containers[0].resources}')
check "… with the LimitRange's default limits" contains "$out" '"limits":{"cpu":"500m","memory":"256Mi"}'
check "… and default requests" contains "$out" '"requests":{"cpu":"100m","memory":"64Mi"}'
check "… and the limit-ranger annotation" contains "$(kubectl get pod a -n team -o jsonpath='{.metadata.annotations}')" 'LimitRanger plugin set'
out=$(pod big 2 | kubectl apply -n team -f - 2>&1 || true)
check "a limit over the range's max is refused" contains "$out" 'maximum cpu usage per Container is 1, but limit is 2'
out=$(pod b 600m | kubectl apply -n team -f - 2>&1 || true)
check "a pod past the quota is refused with Kubernetes' message" contains "$out" 'exceeded quota: compute, requested: limits.cpu=600m, used: limits.cpu=500m, limited: limits.cpu=1'
check "a pod within the quota is admitted" sh -c "$(declare -f pod); pod c 500m | kubectl apply -n team -f -"
out=$(pod d 60m | kubectl apply -n team -f - 2>&1 || true)
check "the pod count is a quota too" contains "$out" 'exceeded quota: compute, requested: .*pods=1, used: .*pods=2, limited: .*pods=2'
for i in 1 2 3; do kubectl create configmap "cm$i" -n team >/dev/null; done
out=$(kubectl create configmap cm4 -n team 2>&1 || true)
check "object counts are enforced" contains "$out" 'exceeded quota: compute, requested: configmaps=1, used: configmaps=3, limited: configmaps=3'
check "other namespaces are not limited" kubectl create configmap free -n default
check "the quota's status shows what is used" wait_for "status.used" 20 \
  sh -c "kubectl get quota compute -n team -o jsonpath='{.status.used.pods}' | grep -qx 2"
out=$(kubectl describe quota compute -n team)
check "kubectl describe quota shows used and hard" contains "$out" 'limits.cpu .*1 *1'
kubectl delete pod c -n team --wait=false >/dev/null
check "a deleted pod frees its share" wait_for "a pod fits again" 30 \
  sh -c "$(declare -f pod); pod e 400m | kubectl apply -n team -f -"
# Concurrent creates do not both take the last unit.
kubectl create namespace race >/dev/null
kubectl create quota one --hard=configmaps=1 -n race >/dev/null
racers=()
for i in $(seq 1 8); do kubectl create configmap "r$i" -n race >/dev/null 2>&1 & racers+=($!); done
for p in "${racers[@]}"; do wait "$p" || true; done  # not `wait`: skiff is a child too
check "eight racing creates leave exactly one" test "$(kubectl get configmaps -n race --no-headers 2>/dev/null | grep -c '^r')" = 1
finish
