#!/usr/bin/env bash
# skiff kustomize build prints what kubectl kustomize (kustomize v5) prints for every fixture,
# byte for byte; bad kustomizations fail with the file named; skiff apply -k creates the objects.
source "$(dirname "$0")/lib.sh"
FIXTURES=$(readlink -f "$(dirname "$0")/../fixtures/kustomize")

for expected in "$FIXTURES"/*/expected.yaml; do
  case=$(dirname "$expected")
  ours=$("$SKIFF" kustomize build "$case/top" 2>&1) || true
  theirs=$(kubectl kustomize "$case/top" 2>/dev/null)
  check "$(basename "$case"): skiff kustomize build equals kubectl kustomize" test "$ours" = "$theirs"
  check "$(basename "$case"): expected.yaml is what kubectl kustomize prints" test "$theirs" = "$(cat "$expected")"
done

for bad in bad-cycle/a bad-missing bad-notyaml bad-unknown bad-remote; do
  check "$bad: kubectl kustomize refuses it too" bash -c "! kubectl kustomize '$FIXTURES/$bad' >/dev/null 2>&1"
  out=$("$SKIFF" kustomize build "$FIXTURES/$bad" 2>&1) && rc=0 || rc=$?
  check "$bad: refused with exit 1 and the path named" test "$rc" = 1
  check "$bad: message names the fixture" contains "$out" "$FIXTURES/${bad%/*}"
done

start_skiff
out=$("$SKIFF" apply -k "$FIXTURES/overlay3/top" 2>&1)
check "apply -k reports the namespace created" contains "$out" "namespace/shop"
check "apply -k reports the deployment" contains "$out" "deployment.apps/mid-web-prod"
image=$(kubectl get deployment mid-web-prod -n shop -o jsonpath='{.spec.template.spec.containers[0].image}')
check "the applied deployment carries the overlay's image" test "$image" = "registry.local/nginx:1.27"
cm=$(kubectl get deployment mid-web-prod -n shop -o jsonpath='{.spec.template.spec.volumes[0].configMap.name}')
check "the volume names the renamed ConfigMap" test "$cm" = "mid-settings-prod"
check "the renamed ConfigMap exists" kubectl get configmap mid-settings-prod -n shop
sel=$(kubectl get service mid-web-prod -n shop -o jsonpath='{.spec.selector}')
check "the service selector carries commonLabels" contains "$sel" '"env":"prod"'
out=$("$SKIFF" apply -k "$FIXTURES/overlay3/top" -f "$FIXTURES/overlay3/top/namespace.yaml" 2>&1) || true
check "-k with -f is refused" contains "$out" "exclusive"
finish
