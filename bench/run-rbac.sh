#!/usr/bin/env bash
# What RBAC and the audit log add to the API (issue 21): durable ConfigMap creates through
# skiff_bench as a system:masters user and as a user RBAC authorizes (an edit RoleBinding among
# 50 other Roles, 50 RoleBindings and 50 ClusterRoleBindings), both by client certificate so only
# authorization differs; then the same RBAC user's creates/s with the audit log at Metadata vs off.
# One skiff per mode, in the same run; medians of RUNS.
# Usage: bench/run-rbac.sh [BUILD_DIR]   (env: RUNS=3 N=3000 CONC=16)
set -euo pipefail
BENCH_NAME=rbac
source "$(dirname "$0")/lib.sh"
BUILD=$(readlink -f "${1:-build}")
SKIFF=$BUILD/skiff
BENCH=$BUILD/bench/skiff_bench
RUNS=${RUNS:-3}; N=${N:-3000}; CONC=${CONC:-16}
need_commands "kubectl (ships with the machine image)" kubectl
echo "# skiff RBAC/audit benchmarks, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
cat >"$W/audit.yaml" <<'YAML'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
YAML
start() {  # start DIR [flags...]: a skiff up with no node, its kubeconfigs in DIR
  local dir=$1
  shift
  "$SKIFF" up --data-dir "$dir" --listen 127.0.0.1:0 --runtime process --no-agent "$@" >"$dir.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 200); do [ -s "$dir/kubeconfig" ] && grep -q "skiff is up" "$dir.log" && break; sleep 0.05; done
  export KUBECONFIG=$dir/kubeconfig
  "$SKIFF" kubeconfig create bench-admin --group system:masters >"$dir/admin.kubeconfig"
  "$SKIFF" kubeconfig create bench-user >"$dir/user.kubeconfig"
  kubectl create rolebinding bench-edit --clusterrole=edit --user=bench-user >/dev/null
  for i in $(seq 1 50); do
    printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: team-%d}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r%d, namespace: team-%d}\nrules: [{apiGroups: [""], resources: [configmaps], verbs: [get, list]}]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: b%d, namespace: team-%d}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r%d}\nsubjects: [{kind: User, name: user-%d, apiGroup: rbac.authorization.k8s.io}]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: c%d}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}\nsubjects: [{kind: Group, name: group-%d, apiGroup: rbac.authorization.k8s.io}]\n---\n' \
      "$i" "$i" "$i" "$i" "$i" "$i" "$i" "$i" "$i"
  done | kubectl apply -f - >/dev/null
}
stop() { kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true; unset 'PIDS[-1]'; }
field() { python3 -c "import json,sys; print(json.loads(sys.stdin.readline())['$1'])"; }
for run in $(seq 1 "$RUNS"); do
  start "$W/plain$run"
  for who in admin user; do
    out=$("$BENCH" creates --kubeconfig "$W/plain$run/$who.kubeconfig" --n "$N" --conc 1 --size 256 --prefix "seq-$who")
    echo "run $run sequential $who: $out"
    field p50_ms <<<"$out" >>"$W/seq-$who.p50"; field p99_ms <<<"$out" >>"$W/seq-$who.p99"
  done
  out=$("$BENCH" creates --kubeconfig "$W/plain$run/user.kubeconfig" --n "$N" --conc "$CONC" --size 256 --prefix par-user)
  echo "run $run parallel user, no audit: $out"
  field per_second <<<"$out" >>"$W/rps-noaudit"
  stop
  start "$W/audit$run" --audit-policy-file "$W/audit.yaml" --audit-log-path "$W/audit$run.log"
  out=$("$BENCH" creates --kubeconfig "$W/audit$run/user.kubeconfig" --n "$N" --conc "$CONC" --size 256 --prefix par-user)
  echo "run $run parallel user, audit Metadata: $out"
  field per_second <<<"$out" >>"$W/rps-audit"
  stop
done
echo "medians of $RUNS runs, $N creates each:"
echo "  sequential create p50/p99 ms, system:masters: $(median <"$W/seq-admin.p50") / $(median <"$W/seq-admin.p99")"
echo "  sequential create p50/p99 ms, RBAC user:      $(median <"$W/seq-user.p50") / $(median <"$W/seq-user.p99")"
echo "  creates/s with $CONC clients, RBAC user: audit off $(median <"$W/rps-noaudit"), audit Metadata $(median <"$W/rps-audit")"
