#!/usr/bin/env bash
# skiff helm template renders a chart (helpers, subchart, .Files, values) byte-for-byte as the
# expected `helm template` output, and the result applies to a running skiff with kubectl.
source "$(dirname "$0")/lib.sh"
FIX=$(cd "$(dirname "$0")/../fixtures/helm" && pwd)

# Rendering needs no server.
out=$("$SKIFF" helm template shop "$FIX/webapp" --namespace web)
check "template output equals the expected helm template output" diff <(printf '%s\n' "$out") "$FIX/webapp.expected.yaml"
tar -czf "$WORK/webapp-1.2.3.tgz" -C "$FIX" webapp
out=$("$SKIFF" helm template shop "$WORK/webapp-1.2.3.tgz" --namespace web)
check "a packaged chart (.tgz) renders the same" diff <(printf '%s\n' "$out") "$FIX/webapp.expected.yaml"
out=$("$SKIFF" helm template shop "$FIX/webapp" --set cache.enabled=false --set replicaCount=4)
check "--set disables the subchart by its condition" lacks "$out" "shop-cache"
check "--set overrides a value" contains "$out" "replicas: 4"
printf 'replicaCount: 7\nimage:\n  tag: "1.25"\n' > "$WORK/prod.yaml"
out=$("$SKIFF" helm template shop "$FIX/webapp" -f "$WORK/prod.yaml")
check "-f values file merges" contains "$out" 'image: "nginx:1.25"'
check "-f values file sets replicas" contains "$out" "replicas: 7"

# Bad input: clear messages, non-zero exit.
printf 'a: [unclosed\n' > "$WORK/bad.yaml"
out=$("$SKIFF" helm template shop "$FIX/webapp" -f "$WORK/bad.yaml" 2>&1) && false
check "a values file that is not YAML is named" contains "$out" "failed to parse $WORK/bad.yaml"
out=$("$SKIFF" helm template shop "$WORK/no-such-chart" 2>&1) && false
check "a missing chart is reported" contains "$out" "chart not found"
cp -r "$FIX/webapp" "$WORK/broken"
printf 'kind: ConfigMap\nx: {{ .Values.nope.deeper }}\n' > "$WORK/broken/templates/bad.yaml"
out=$("$SKIFF" helm template shop "$WORK/broken" 2>&1) && false
check "a template error names file, line and column" contains "$out" "template: webapp/templates/bad.yaml:2:6: executing"
printf 'x: {{ required "image.digest is required" .Values.image.digest }}\n' > "$WORK/broken/templates/bad.yaml"
out=$("$SKIFF" helm template shop "$WORK/broken" 2>&1) && false
check "required reads as Helm prints it" contains "$out" "execution error at (webapp/templates/bad.yaml:1:6): image.digest is required"
printf 'x: {{ if }}\n' > "$WORK/broken/templates/bad.yaml"
out=$("$SKIFF" helm template shop "$WORK/broken" 2>&1) && false
check "a parse error names file and line" contains "$out" "parse error at (webapp/templates/bad.yaml:1): missing value for if"

# The rendered chart applies to a running skiff.
if command -v kubectl >/dev/null; then
  start_skiff
  kubectl --request-timeout=20s create namespace web >/dev/null
  out=$("$SKIFF" helm template shop "$FIX/webapp" --namespace web | kubectl --request-timeout=20s apply -n web -f - 2>&1)
  check "kubectl applies the rendered chart" contains "$out" "deployment.apps/shop-webapp created"
  check "the subchart's StatefulSet is applied" contains "$out" "statefulset.apps/shop-cache created"
  out=$(kubectl --request-timeout=20s get configmap shop-webapp-config -n web -o jsonpath='{.data.app\.conf}')
  check ".Files content reaches the cluster" contains "$out" "workers 4"
fi
finish
