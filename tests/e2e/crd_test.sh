#!/usr/bin/env bash
# CustomResourceDefinitions as a user meets them: kubectl applies a definition, its kind is served
# at once (discovery, REST, watch, tables with its printer columns, scale and status), objects are
# validated, pruned and defaulted by its schema, and deleting it deletes its objects.
source "$(dirname "$0")/lib.sh"
FIXTURES=$(dirname "$0")/../fixtures/crd
start_skiff --no-agent
K() { kubectl --request-timeout=20s "$@"; }
CRONTABS=/apis/stable.example.com/v1/namespaces/default/crontabs

out=$(K apply -f "$FIXTURES/crontab.yaml" 2>&1 || true)
check "kubectl apply creates the definition" contains "$out" "customresourcedefinition.apiextensions.k8s.io/crontabs.stable.example.com created"
out=$(K wait --for=condition=Established crd/crontabs.stable.example.com --timeout=10s 2>&1 || true)
check "it is Established" contains "$out" "condition met"
out=$(K get crd crontabs.stable.example.com -o jsonpath='{.status.acceptedNames.kind}/{.status.storedVersions}/{.metadata.finalizers}' 2>&1 || true)
check "status: accepted names, stored versions; the cleanup finalizer" contains "$out" 'CronTab/\["v1"\]/\["customresourcecleanup.apiextensions.k8s.io"\]'
out=$(K api-resources --api-group=stable.example.com 2>&1 || true)
check "discovery lists the kind with its short name" contains "$out" "crontabs  *ct  *stable.example.com/v1  *true  *CronTab"

cat >"$WORK/ct.yaml" <<'YAML'
apiVersion: stable.example.com/v1
kind: CronTab
metadata: {name: nightly}
spec: {cronSpec: "0 3 * * *", image: backup:1, tags: [db, nightly], extra: {anything: {goes: here}}, timeout: 30s}
YAML
out=$(K apply -f "$WORK/ct.yaml" 2>&1 || true)
check "kubectl apply creates an object" contains "$out" "crontab.stable.example.com/nightly created"
out=$(K get ct nightly -o jsonpath='{.spec.replicas}/{.spec.policy}/{.spec.extra.anything.goes}' 2>&1 || true)
check "defaults applied, preserved fields kept" test "$out" = "1/Allow/here"
out=$(K get ct 2>&1 || true)
check "kubectl get shows the printer columns" contains "$out" "NAME  *SPEC  *REPLICAS  *AGE"
check "… and their values" contains "$out" "nightly  *0 3 \* \* \*  *1  "
out=$(K get all 2>&1 || true)
check "the kind is in category all" contains "$out" "crontab.stable.example.com/nightly"

# Unknown fields: pruned with a warning by default, refused under kubectl's strict validation.
out=$(api POST "$CRONTABS" -D "$WORK/headers" -H 'Content-Type: application/json' \
  -d '{"apiVersion":"stable.example.com/v1","kind":"CronTab","metadata":{"name":"loose"},"spec":{"cronSpec":"* * * * *","colour":"red"},"junk":1}')
check "an unknown field is pruned" bash -c "grep -q '^201$' <<<'$out' && ! grep -q colour <<<'$out' && ! grep -q junk <<<'$out'"
check "… with a warning naming it" grep -qi 'warning: 299 - "unknown field \\"spec.colour\\"' "$WORK/headers"
printf 'apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata: {name: strict}\nspec: {cronSpec: "* * * * *", imagez: x}\n' >"$WORK/strict.yaml"
out=$(K apply -f "$WORK/strict.yaml" 2>&1 || true)
check "kubectl apply refuses an unknown field (strict)" contains "$out" 'strict decoding error: unknown field "spec.imagez"'

# Schema violations: 422 with every field path, as Kubernetes words them.
bad() { printf 'apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata: {name: bad}\nspec: %s\n' "$1" >"$WORK/bad.yaml"; K apply -f "$WORK/bad.yaml" 2>&1 || true; }
out=$(bad '{cronSpec: "* * * * *", replicas: 11}')
check "maximum" contains "$out" 'The CronTab "bad" is invalid: spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10'
out=$(bad '{image: x}')
check "required" contains "$out" 'spec.cronSpec: Required value'
out=$(bad '{cronSpec: "every day"}')
check "pattern" contains "$out" "spec.cronSpec in body should match"
out=$(bad '{cronSpec: "* * * * *", policy: Sometimes}')
check "enum" contains "$out" 'spec.policy: Unsupported value: "Sometimes": supported values: "Allow", "Forbid", "Replace"'
out=$(bad '{cronSpec: "* * * * *", replicas: "two"}')
check "type" contains "$out" 'spec.replicas in body must be of type integer: "string"'
out=$(bad '{cronSpec: "* * * * *", tags: [a, a]}')
check "list-type set" contains "$out" 'spec.tags\[1\]: Duplicate value: "a"'
out=$(bad '{cronSpec: "* * * * *", tags: [a, b, c, d], window: yesterday}')
check "maxItems and format, both reported" bash -c "grep -q 'must have at most 3 items' <<<'$out' && grep -q 'must be of type date-time' <<<'$out'"
check "nothing invalid was stored" bash -c "! kubectl get ct bad >/dev/null 2>&1"

# Subresources: scale (kubectl scale, HPA's path) and status.
out=$(K scale ct nightly --replicas=3 2>&1 || true)
check "kubectl scale" contains "$out" "scaled"
check "… writes specReplicasPath" test "$(K get ct nightly -o jsonpath='{.spec.replicas}')" = 3
out=$(K patch ct nightly --subresource=status --type=merge -p '{"status":{"replicas":3,"labelSelector":"app=nightly"}}' 2>&1 || true)
check "status subresource patch" contains "$out" "patched"
out=$(api GET "$CRONTABS/nightly/scale")
check "scale reads statusReplicasPath and labelSelectorPath" contains "$out" '"status":{"replicas":3,"selector":"app=nightly"}'
K patch ct nightly --type=merge -p '{"status":{"replicas":9},"spec":{"image":"backup:2"}}' >/dev/null 2>&1
check "a main-resource write keeps status" test "$(K get ct nightly -o jsonpath='{.status.replicas}/{.spec.image}')" = "3/backup:2"
out=$(K patch ct nightly -p '{"spec":{"image":"x"}}' 2>&1 || true)
check "strategic merge patch is refused for custom kinds, as Kubernetes does" contains "$out" "UnsupportedMediaType\|unknown format\|415"

# Another served version (conversion None): the same objects, with that apiVersion.
out=$(K get crontabs.v1beta1.stable.example.com nightly -o jsonpath='{.apiVersion}/{.spec.image}' 2>&1 || true)
check "v1beta1 serves the same object" test "$out" = "stable.example.com/v1beta1/backup:2"

out=$(K explain crontabs.spec.replicas 2>&1 || true)
check "kubectl explain reads the definition's schema" contains "$out" "FIELD: *replicas <integer>"
check "… of its group" contains "$out" "GROUP: *stable.example.com"

out=$(api GET "$CRONTABS?watch=1&timeoutSeconds=1")
check "watch" contains "$out" '"type":"ADDED","object":{"apiVersion":"stable.example.com/v1","kind":"CronTab"'

# Definitions Kubernetes refuses, and one whose names are taken.
out=$(sed 's/name: crontabs.stable.example.com/name: crontab.stable.example.com/' "$FIXTURES/crontab.yaml" | K apply -f - 2>&1 || true)
check "name must be plural.group" contains "$out" 'metadata.name: Invalid value: "crontab.stable.example.com": must be spec.names.plural+"."+spec.group'
cat >"$WORK/untyped.yaml" <<'YAML'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Cluster
  names: {plural: widgets, kind: Widget}
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, properties: {spec: {properties: {size: {type: integer}}}}}}
YAML
out=$(K apply -f "$WORK/untyped.yaml" 2>&1 || true)
check "a non-structural schema is refused" contains "$out" "spec.versions\[0\].schema.openAPIV3Schema.properties\[spec\].type: Required value: must not be empty for specified object fields"
sed 's/properties: {spec: {properties/properties: {spec: {type: object, properties/' "$WORK/untyped.yaml" >"$WORK/widgets.yaml"
out=$(K apply -f "$WORK/widgets.yaml" 2>&1 || true)
check "a cluster-scoped definition" contains "$out" "widgets.example.com created"
K wait --for=condition=Established crd/widgets.example.com --timeout=10s >/dev/null 2>&1 || true
out=$(printf 'apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {size: 2}\n' | K apply -f - 2>&1 || true)
check "… serves cluster-scoped objects" contains "$out" "widget.example.com/w1 created"
check "… listed without a namespace" contains "$(api GET /apis/example.com/v1/widgets)" '"name":"w1"'
cat >"$WORK/clash.yaml" <<'YAML'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: crontabjobs.stable.example.com}
spec:
  group: stable.example.com
  scope: Namespaced
  names: {plural: crontabjobs, kind: CronTab}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-validations: [{rule: "self.spec.a > 0"}]
YAML
K apply -f "$WORK/clash.yaml" >/dev/null 2>&1
named() { K get crd crontabjobs.stable.example.com -o jsonpath='{.status.conditions[?(@.type=="NamesAccepted")].reason}' | grep -q NameConflict; }
check "a kind already taken: NamesAccepted=False, NameConflict" wait_for "NameConflict" 10 named
out=$(K get crd crontabjobs.stable.example.com -o jsonpath='{.status.conditions[?(@.type=="ValidationRulesEvaluated")].message}' 2>&1 || true)
check "CEL rules are reported as not evaluated" contains "$out" "x-kubernetes-validations"
out=$(api GET /apis/stable.example.com/v1/namespaces/default/crontabjobs)
check "… and its kind is not served" contains "$out" "^404$"

# A restarted server serves the kinds stored before.
stop_skiff
start_skiff --no-agent
out=$(K get ct nightly -o jsonpath="{.spec.replicas}" 2>&1 || true)
check "after a restart the kind is served at once" contains "$out" "^3$"

# Deleting a namespace deletes its custom objects; deleting the definition deletes the rest.
K create ns scratch >/dev/null
printf 'apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata: {name: temp, namespace: scratch}\nspec: {cronSpec: "* * * * *"}\n' | K apply -f - >/dev/null 2>&1 || true
check "an object in another namespace" test "$(K get ct temp -n scratch -o name 2>&1)" = crontab.stable.example.com/temp
K delete ns scratch --wait=false >/dev/null 2>&1
gone_ns() { ! K get ns scratch >/dev/null 2>&1; }
check "the namespace goes, custom objects and all" wait_for "namespace deleted" 20 gone_ns
out=$(K delete crd crontabs.stable.example.com --timeout=20s 2>&1 || true)
check "kubectl delete crd" contains "$out" "deleted"
check "the kind is no longer served" contains "$(api GET "$CRONTABS")" "^404$"
out=$(K apply -f "$FIXTURES/crontab.yaml" 2>&1 || true)
K wait --for=condition=Established crd/crontabs.stable.example.com --timeout=10s >/dev/null 2>&1 || true
check "re-created, it starts empty: its objects went with it" test -z "$(K get ct -A -o name 2>&1)"
finish
