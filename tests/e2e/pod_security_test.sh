#!/usr/bin/env bash
# Pod Security Admission as Kubernetes' users meet it: namespace labels choose the level; a pod
# that breaks the enforce level is refused with every failing check named, the warn level shows
# kubectl warnings, workloads get warnings (their pods are refused when made), bad labels are
# refused, and a stricter enforce label warns about the pods already there.
source "$(dirname "$0")/lib.sh"
start_skiff --runtime process
K() { kubectl "$@"; }

K create namespace locked >/dev/null
K label namespace locked pod-security.kubernetes.io/enforce=restricted >/dev/null
out=$(K apply -n locked -f - 2>&1 <<'YAML' || true
apiVersion: v1
kind: Pod
metadata: {name: root-pod}
spec:
  containers: [{name: app, image: busybox, command: [sleep, "3600"]}]
YAML
)
check "a pod that breaks restricted is refused" contains "$out" 'pods "root-pod" is forbidden: violates PodSecurity "restricted:latest"'
check "… naming allowPrivilegeEscalation" contains "$out" 'allowPrivilegeEscalation != false (container "app" must set securityContext.allowPrivilegeEscalation=false)'
check "… capabilities" contains "$out" 'unrestricted capabilities (container "app" must set securityContext.capabilities.drop=\["ALL"\])'
check "… runAsNonRoot" contains "$out" 'runAsNonRoot != true (pod or container "app" must set securityContext.runAsNonRoot=true)'
check "… and seccompProfile" contains "$out" 'seccompProfile (pod or container "app" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")'
check "nothing was stored" bash -c "! kubectl get pod -n locked root-pod >/dev/null 2>&1"

out=$(K apply -n locked -f - 2>&1 <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: hardened}
spec:
  securityContext: {runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: app
    image: busybox
    command: [sleep, "3600"]
    securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
YAML
)
check "a pod that meets restricted is admitted" contains "$out" "pod/hardened created"

# A Deployment is admitted with a warning; its ReplicaSet's pods are refused, as in Kubernetes.
out=$(K create -n locked deployment web --image busybox -- sleep 3600 2>&1)
check "a workload breaking the level is admitted with a warning" contains "$out" 'Warning: would violate PodSecurity "restricted:latest"'
refused() { K get events -n locked -o jsonpath='{.items[*].message}' | grep -q 'violates PodSecurity'; }
check "its pods are refused, and the ReplicaSet says why" wait_for "FailedCreate" 20 refused

K create namespace watched >/dev/null
K label namespace watched pod-security.kubernetes.io/warn=baseline >/dev/null
out=$(K run -n watched hostnet --image busybox --overrides '{"spec":{"hostNetwork":true}}' -- sleep 3600 2>&1)
check "the warn level warns" contains "$out" 'Warning: would violate PodSecurity "baseline:latest": host namespaces (hostNetwork=true)'
check "… and admits" contains "$out" "pod/hostnet created"

out=$(K label namespace watched pod-security.kubernetes.io/enforce=baseline 2>&1)
check "a stricter enforce label warns about existing pods" contains "$out" 'existing pods in namespace "watched" violate the new PodSecurity enforce level "baseline:latest"'
check "… naming them and their failures" contains "$out" "hostnet: host namespaces"
check "… which keep running" bash -c "kubectl get pod -n watched hostnet >/dev/null"

out=$(K label namespace watched pod-security.kubernetes.io/enforce=strict --overwrite 2>&1 || true)
check "an unknown level is refused with the label named" contains "$out" 'metadata.labels\[pod-security.kubernetes.io/enforce\]'
check "… and the levels listed" contains "$out" "must be one of privileged, baseline, restricted"
out=$(K get namespace watched -o jsonpath='{.metadata.labels.pod-security\.kubernetes\.io/enforce}')
check "the namespace keeps its label" test "$out" = baseline
finish
