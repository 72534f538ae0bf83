#!/usr/bin/env bash
# Jobs, CronJobs and DaemonSets with real pods on this node.
source "$(dirname "$0")/lib.sh"
export SKIFF_RESTART_BACKOFF_MS=300
start_skiff
jobstatus() { "$SKIFF" get job "$1" --no-headers | awk '{print $2}'; }
"$SKIFF" apply -f "$(dirname "$0")/batch.yaml" >/dev/null
complete() { [ "$(jobstatus count)" = Complete ]; }
check "job with completions 3, parallelism 2 completes" wait_for complete 30 complete
out=$(kubectl get job count -o jsonpath='{.status.succeeded} {.status.conditions[?(@.type=="Complete")].status}')
check "job status counts 3 succeeded" contains "$out" "3 True"
out=$("$SKIFF" logs -l batch.kubernetes.io/job-name=count)
check "job pods really ran" contains "$out" "counting"
failed() { [ "$(jobstatus doomed)" = Failed ]; }
check "failing job stops at backoffLimit" wait_for failed 30 failed
out=$(kubectl get job doomed -o jsonpath='{.status.conditions[?(@.type=="Failed")].reason}')
check "reason BackoffLimitExceeded" contains "$out" "BackoffLimitExceeded"
# A CronJob that last ran two minutes ago is due now.
kubectl patch cronjob tick --subresource=status --type=merge \
  -p "{\"status\":{\"lastScheduleTime\":\"$(date -u -d '-2 min' +%Y-%m-%dT%H:%M:%SZ)\"}}" >/dev/null
cron_ran() { "$SKIFF" get jobs --no-headers | grep -q "^tick-.*Complete"; }
check "cronjob creates a job that completes" wait_for cron_ran 30 cron_ran
out=$(kubectl get cronjob tick -o jsonpath='{.status.lastSuccessfulTime}')
check "cronjob records lastSuccessfulTime" test -n "$out"
ds_ready() { [ "$(kubectl get ds agent -o jsonpath='{.status.numberReady}')" = 1 ]; }
check "daemonset runs one pod on the node" wait_for ds_ready 30 ds_ready
kubectl set image ds/agent c=busybox:2 >/dev/null
ds_updated() { [ "$(kubectl get ds agent -o jsonpath='{.status.updatedNumberScheduled}/{.status.numberReady}')" = 1/1 ]; }
check "daemonset rolling update" wait_for ds_updated 30 ds_updated
out=$(printf 'apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: bad}\nspec:\n  schedule: "61 * * * *"\n  jobTemplate: {spec: {template: {spec: {restartPolicy: Never, containers: [{name: c, image: x}]}}}}\n' | "$SKIFF" apply -f - 2>&1 || true)
check "bad cron schedule refused with the field" contains "$out" 'spec.schedule: Invalid value: "61 \* \* \* \*"'
out=$(printf 'apiVersion: batch/v1\nkind: Job\nmetadata: {name: bad}\nspec:\n  template: {spec: {containers: [{name: c, image: x}]}}\n' | "$SKIFF" apply -f - 2>&1 || true)
check "job needs restartPolicy Never or OnFailure" contains "$out" 'spec.template.spec.restartPolicy: Unsupported value: "Always"'
"$SKIFF" delete job count >/dev/null
gone() { ! "$SKIFF" get pods -l batch.kubernetes.io/job-name=count -o name | grep -q pod; }
check "deleting a job deletes its pods" wait_for gone 20 gone
finish
