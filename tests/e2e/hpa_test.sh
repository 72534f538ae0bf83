#!/usr/bin/env bash
# HorizontalPodAutoscaler on real CPU usage from cgroups: busy pods scale their Deployment up.
source "$(dirname "$0")/lib.sh"
if [ "$(id -u)" != 0 ]; then echo "needs root for cgroups: skipping"; echo "0 passed, 0 failed"; exit 0; fi
start_skiff
"$SKIFF" apply -f - >/dev/null <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: burner}
spec:
  replicas: 1
  selector: {matchLabels: {app: burner}}
  template:
    metadata: {labels: {app: burner}}
    spec:
      containers:
      - name: c
        image: busybox
        command: ["sh", "-c", "while true; do :; done"]
        resources: {requests: {cpu: 100m}, limits: {cpu: 200m, memory: 32Mi}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: burner}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: burner}
  minReplicas: 1
  maxReplicas: 3
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
YAML
scaled() { [ "$(kubectl get deploy burner -o jsonpath='{.spec.replicas}')" = 3 ]; }
check "busy pods scale the deployment to maxReplicas" wait_for scaled 60 scaled
out=$(kubectl get hpa burner 2>&1)
check "kubectl get hpa shows utilization over target" contains "$out" "cpu: [0-9]*%/50%"
out=$(kubectl get hpa burner -o jsonpath='{.status.conditions[?(@.type=="ScalingLimited")].status}')
check "ScalingLimited at max" test "$out" = True
out=$("$SKIFF" events)
check "rescale event" contains "$out" "SuccessfulRescale.*New size: 3"
out=$(printf 'apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: bad}\nspec:\n  scaleTargetRef: {kind: Deployment, name: x}\n  minReplicas: 5\n  maxReplicas: 2\n' | "$SKIFF" apply -f - 2>&1 || true)
check "min above max refused" contains "$out" "spec.maxReplicas: Invalid value: 2: must be greater than or equal to \`minReplicas\`"
"$SKIFF" delete deploy burner --wait=false >/dev/null
finish
