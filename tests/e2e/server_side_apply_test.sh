#!/usr/bin/env bash
# Server-side apply as kubectl and Flux use it: `kubectl apply --server-side` creates and updates,
# managedFields record who owns what, conflicts name the other manager and field, --force-conflicts
# takes them, fields an applier drops go, client-side apply migrates, dry runs change nothing.
source "$(dirname "$0")/lib.sh"
start_skiff --no-agent
K() { kubectl --request-timeout=20s "$@"; }
deployment() {  # deployment REPLICAS ENV_YAML
  cat <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: $1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1
        env: $2
YAML
}
deployment 2 '[{name: A, value: "1"}, {name: B, value: "2"}]' >"$WORK/d.yaml"
out=$(K apply --server-side -f "$WORK/d.yaml" 2>&1 || true)
check "kubectl apply --server-side creates" contains "$out" "deployment.apps/web serverside-applied"
out=$(K get deploy web -o json --show-managed-fields 2>&1 || true)
check "managedFields: kubectl, Apply, FieldsV1" contains "$out" '"manager": "kubectl",'
check "… owning the container by its key" contains "$out" '"k:{\\"name\\":\\"web\\"}"'
rv=$(K get deploy web -o jsonpath='{.metadata.resourceVersion}')
K apply --server-side -f "$WORK/d.yaml" >/dev/null 2>&1 || true
check "re-applying the same configuration writes nothing" test "$(K get deploy web -o jsonpath='{.metadata.resourceVersion}')" = "$rv"

K patch deploy web --type=merge -p '{"spec":{"replicas":5}}' >/dev/null 2>&1 || true
out=$(K apply --server-side -f "$WORK/d.yaml" 2>&1 || true)
check "a field another manager changed conflicts" contains "$out" 'Apply failed with 1 conflict: conflict with "kubectl-patch" using apps/v1: .spec.replicas'
check "… and nothing changed" test "$(K get deploy web -o jsonpath='{.spec.replicas}')" = 5
out=$(api PATCH "/apis/apps/v1/namespaces/default/deployments/web?fieldManager=kubectl" -H 'Content-Type: application/apply-patch+yaml' --data-binary @"$WORK/d.yaml")
check "the API's answer: 409" contains "$out" "^409$"
check "… with a FieldManagerConflict cause naming the field" contains "$out" '"reason":"FieldManagerConflict","message":"conflict with \\"kubectl-patch\\" using apps/v1","field":".spec.replicas"'  
out=$(K apply --server-side --force-conflicts -f "$WORK/d.yaml" 2>&1 || true)
check "--force-conflicts applies" contains "$out" "serverside-applied"
check "… the applied value" test "$(K get deploy web -o jsonpath='{.spec.replicas}')" = 2
check "… and the other manager owns nothing now" test -z "$(K get deploy web --show-managed-fields -o jsonpath='{.metadata.managedFields[?(@.manager=="kubectl-patch")].manager}')"

deployment 2 '[{name: A, value: "1"}]' >"$WORK/d2.yaml"
K apply --server-side -f "$WORK/d2.yaml" >/dev/null 2>&1 || true
check "an env item the applier dropped is removed" test "$(K get deploy web -o jsonpath='{.spec.template.spec.containers[0].env[*].name}')" = A
# Another manager's item in the same list survives the applier's changes.
K patch deploy web --type=json -p '[{"op":"add","path":"/spec/template/spec/containers/0/env/-","value":{"name":"EXTRA","value":"x"}}]' >/dev/null 2>&1 || true
deployment 2 '[{name: A, value: "2"}]' >"$WORK/d3.yaml"
K apply --server-side -f "$WORK/d3.yaml" >/dev/null 2>&1 || true
check "another manager's list item is kept" test "$(K get deploy web -o jsonpath='{.spec.template.spec.containers[0].env[*].value}')" = "2 x"

out=$(K apply --server-side --dry-run=server -f "$WORK/d.yaml" 2>&1 || true)
check "server dry run" contains "$out" "serverside-applied (server dry run)"
check "… changes nothing" test "$(K get deploy web -o jsonpath='{.spec.template.spec.containers[0].env[*].value}')" = "2 x"

# Client-side apply, then server-side apply of the same file: kubectl migrates ownership.
K create configmap settings --from-literal=mode=fast --from-literal=level=3 --dry-run=client -o yaml >"$WORK/cm.yaml"
K apply -f "$WORK/cm.yaml" >/dev/null 2>&1 || true
out=$(K apply --server-side -f "$WORK/cm.yaml" 2>&1 || true)
check "client-side applied objects move to server-side apply without conflicts" contains "$out" "configmap/settings serverside-applied"
grep -v "level:" "$WORK/cm.yaml" >"$WORK/cm2.yaml"
K apply --server-side -f "$WORK/cm2.yaml" >/dev/null 2>&1 || true
check "… and then a dropped key goes" test "$(K get cm settings -o jsonpath='{.data}')" = '{"mode":"fast"}'

out=$(api PATCH "/api/v1/namespaces/default/configmaps/settings" -H 'Content-Type: application/apply-patch+yaml' --data-binary @"$WORK/cm.yaml")
check "apply without a fieldManager is refused" bash -c "grep -q '^400$' <<<'$out' && grep -q 'need the fieldManager parameter' <<<'$out'"
out=$(api PATCH "/api/v1/namespaces/default/configmaps/settings?fieldManager=x&force=true" -H 'Content-Type: application/merge-patch+json' -d '{}')
check "force on a non-apply patch is refused" contains "$out" "force is only meaningful for server-side apply"
out=$(api PATCH "/api/v1/namespaces/default/configmaps/fresh?fieldManager=tool" -H 'Content-Type: application/apply-patch+yaml' \
  --data-binary $'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fresh}\ndata: {k: v}\n')
check "apply of a missing object creates it, owned by its applier" bash -c "grep -q '\"manager\":\"tool\",\"operation\":\"Apply\"' <<<'$out' && grep -q '^200$' <<<'$out'"
# An update by another program records its own entry (the User-Agent names it).
api PUT "/api/v1/namespaces/default/configmaps/fresh" -H 'Content-Type: application/json' -A 'mytool/1.0' \
  -d '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"fresh"},"data":{"k":"w"}}' >/dev/null
check "an update moves the field to the updater (named by its User-Agent)" \
  test "$(K get cm fresh --show-managed-fields -o jsonpath='{.metadata.managedFields[?(@.manager=="mytool")].operation}')" = Update
finish
