#!/usr/bin/env bash
# The audit log as kube-apiserver writes it: --audit-policy-file picks each request's level,
# --audit-log-path gets one audit.k8s.io/v1 Event per request as a JSON line, readable by the tools
# that read Kubernetes' audit logs; a bad policy stops the start with the rule named.
source "$(dirname "$0")/lib.sh"
cat >"$WORK/policy.yaml" <<'YAML'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  resources: [{group: "", resources: [secrets]}]
- level: RequestResponse
  resources: [{group: "", resources: [configmaps]}]
- level: None
YAML
set +e
printf 'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: All\n' >"$WORK/bad.yaml"
out=$(timeout 10 "$SKIFF" up --data-dir "$WORK/bad" --listen 127.0.0.1:0 --runtime process --audit-policy-file "$WORK/bad.yaml" --audit-log-path "$WORK/bad.log" 2>&1)
rc=$?
set -e
check "a bad audit policy stops the start" test "$rc" -ne 0 -a "$rc" -ne 124
check "… naming the rule and the levels" contains "$out" 'rules\[0\].level: Unsupported value: "All"'

start_skiff --runtime process --audit-policy-file "$WORK/policy.yaml" --audit-log-path "$WORK/audit/audit.log"
kubectl create secret generic pw --from-literal=password=hunter2-not-in-the-log >/dev/null
kubectl create configmap cfg --from-literal=colour=blue-in-the-log >/dev/null
kubectl get pods >/dev/null
LOG="$WORK/audit/audit.log"
check "the audit log is the owner's only" test "$(stat -c %a "$LOG")" = 600
line=$(grep '"resource":"secrets"' "$LOG" | grep '"verb":"create"' | head -1)
check "a Secret's creation is recorded at Metadata" contains "$line" '"level":"Metadata"'
check "… as an audit.k8s.io/v1 Event with who did it" contains "$line" '"apiVersion":"audit.k8s.io/v1".*"user":{"username":"[^"]*"'
check "… and the result" contains "$line" '"responseStatus":{"metadata":{},"code":201}'
check "… without the Secret's data" lacks "$(cat "$LOG")" "hunter2"
line=$(grep '"resource":"configmaps"' "$LOG" | grep '"verb":"create"' | head -1)
check "a ConfigMap's creation is recorded with request and response" contains "$line" '"requestObject":{.*blue-in-the-log.*"responseObject":{.*"uid"'
check "requests the policy leaves at None are not recorded" lacks "$(cat "$LOG")" '"resource":"pods"'
check "every line is one JSON event" python3 -c "import json,sys; [json.loads(l) for l in open('$LOG')]"
finish
