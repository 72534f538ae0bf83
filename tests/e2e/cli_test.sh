#!/usr/bin/env bash
# The skiff CLI against the real server: apply, get, describe, delete, watch, bad input, restart.
source "$(dirname "$0")/lib.sh"
EXAMPLES=$(dirname "$0")/../../examples
start_skiff

out=$("$SKIFF" apply -f "$EXAMPLES/hello/namespace.yaml")
check "apply namespace" contains "$out" "namespace/hello created"
out=$("$SKIFF" apply -f "$EXAMPLES/hello/")
check "apply dir creates" contains "$out" "deployment.apps/web created"
out=$("$SKIFF" apply -f "$EXAMPLES/hello/")
check "re-apply is unchanged" contains "$out" "deployment.apps/web unchanged"
check "re-apply configures nothing" lacks "$out" "configured"

out=$("$SKIFF" get deploy -n hello)
check "get table header" contains "$out" "NAME   READY   UP-TO-DATE   AVAILABLE   AGE"
check "get table row" contains "$out" "web    0/2"
out=$("$SKIFF" get deploy web -n hello -o yaml)
check "get -o yaml" contains "$out" "replicas: 2"
check "defaults applied" contains "$out" "revisionHistoryLimit: 10"
out=$("$SKIFF" get cm -n hello -o name)
check "get -o name" contains "$out" "configmap/web-config"
out=$("$SKIFF" get svc,deploy -A -o wide)
check "get -A adds NAMESPACE" contains "$out" "NAMESPACE"
check "get -o wide adds columns" contains "$out" "SELECTOR"
out=$("$SKIFF" get deploy -n hello -l app=web -o json)
check "label selector" contains "$out" '"name": "web"'
out=$("$SKIFF" get deploy -n hello -l app=nope 2>&1)
check "empty result message" contains "$out" "No resources found in hello namespace."
out=$("$SKIFF" get all -n hello 2>&1)
check "get all: the category's kinds, names with their kind" contains "$out" "deployment.apps/web"
check "… services too" contains "$out" "service/web"
out=$("$SKIFF" get all -n kube-public 2>&1)
check "get all with nothing: one message" test "$out" = "No resources found in kube-public namespace."
logs_of_deploy() { "$SKIFF" logs deploy/web -n hello 2>"$WORK/logs.err" >/dev/null && grep -q "Found 2 pods, using pod/web-" "$WORK/logs.err"; }
check "logs deploy/NAME picks one of its pods" wait_for "deploy logs" 20 logs_of_deploy
out=$("$SKIFF" logs deploy/nope -n hello 2>&1 || true)
check "logs of a missing deployment says so" contains "$out" "not found"
out=$("$SKIFF" describe deploy web -n hello)
check "describe" contains "$out" "Namespace:    hello"

# Changing the manifest configures; removing a field from it removes it from the object.
sed 's/replicas: 2/replicas: 3/; /limits:/d' "$EXAMPLES/hello/app.yaml" >"$WORK/app.yaml"
out=$("$SKIFF" apply -f "$WORK/app.yaml")
check "apply configures a change" contains "$out" "deployment.apps/web configured"
out=$("$SKIFF" get deploy web -n hello -o json)
check "change stored" contains "$out" '"replicas": 3'
check "removed field gone" lacks "$out" '"limits"'

# Watch: a change made while watching shows up.
"$SKIFF" get cm -n hello -w >"$WORK/watch.out" 2>&1 &
WATCH=$!
sleep 0.5
"$SKIFF" apply -f - <<'YAML' >/dev/null
apiVersion: v1
kind: ConfigMap
metadata: {name: watched, namespace: hello}
data: {a: "1"}
YAML
for _ in $(seq 1 40); do grep -q watched "$WORK/watch.out" && break; sleep 0.1; done
kill $WATCH 2>/dev/null; wait $WATCH 2>/dev/null || true
check "get -w sees new object" contains "$(cat "$WORK/watch.out")" "watched"

# Bad input: clear messages with field paths, nothing stored, server keeps serving.
cat >"$WORK/bad.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: Bad_Name, namespace: hello}
spec:
  replicas: -1
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: b}}
    spec:
      containers: [{name: c}]
YAML
out=$("$SKIFF" apply -f "$WORK/bad.yaml" 2>&1 || true)
check "invalid names field paths" contains "$out" 'Deployment "Bad_Name" is invalid'
check "invalid replicas path" contains "$out" "spec.replicas: Invalid value: -1"
check "invalid image path" contains "$out" "spec.template.spec.containers\[0\].image: Required value"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x\n' >"$WORK/broken.yaml"
out=$("$SKIFF" apply -f "$WORK/broken.yaml" 2>&1 || true)
check "broken yaml names the file and line" contains "$out" "broken.yaml: invalid YAML at line"
printf 'apiVersion: v1\nkind: Gadget\nmetadata: {name: x}\n' >"$WORK/unknown.yaml"
out=$("$SKIFF" apply -f "$WORK/unknown.yaml" 2>&1 || true)
check "unknown kind" contains "$out" 'no matches for kind "Gadget"'
printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: t, namespace: hello}\nspec: {replicas: three}\n' >"$WORK/type.yaml"
out=$("$SKIFF" apply -f "$WORK/type.yaml" 2>&1 || true)
check "wrong type names the field" contains "$out" "spec.replicas: expected integer, got string"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: typo}\ndatta: {a: b}\n' >"$WORK/typo.yaml"
out=$("$SKIFF" apply -f "$WORK/typo.yaml" 2>&1 || true)
check "skiff apply refuses a misspelled field, as kubectl does" contains "$out" 'strict decoding error: unknown field "datta"'
out=$("$SKIFF" get nonsense 2>&1 || true)
check "unknown resource type" contains "$out" "doesn't have a resource type \"nonsense\""
out=$(api POST /api/v1/namespaces/hello/configmaps -H 'Content-Type: application/json' --data '{"metadata":')
check "malformed JSON is 400" contains "$out" '"code":400'
head -c 4000000 /dev/zero | tr '\0' 'a' >"$WORK/big"
out=$(api POST /api/v1/namespaces/hello/configmaps -H 'Content-Type: application/json' --data-binary @"$WORK/big" || true)
check "oversized body is 413" contains "$out" "413"
out=$(curl -sS --cacert "$CA" -w '\n%{http_code}' "$SERVER/api/v1/namespaces")
check "no token is 401" contains "$out" "401"
out=$(api GET "/api/v1/pods?labelSelector=a%20in%20(b")
check "bad selector is 400" contains "$out" "unbalanced parentheses in selector"
out=$("$SKIFF" get deploy web -n hello -o name)
check "server still serving after bad input" contains "$out" "deployment.apps/web"

# Delete by manifest and by name.
out=$("$SKIFF" delete cm watched -n hello)
check "delete by name" contains "$out" 'configmap "watched" deleted'
out=$("$SKIFF" delete -f "$EXAMPLES/hello/app.yaml")
check "delete -f" contains "$out" 'service "web" deleted'
out=$("$SKIFF" get deploy,svc -n hello 2>&1)
check "deleted objects are gone" contains "$out" "No resources found"

# Deleting a namespace removes what is inside, then the namespace (kubectl-style wait included).
"$SKIFF" apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Namespace
metadata: {name: doomed}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: inside, namespace: doomed}
YAML
out=$("$SKIFF" delete ns doomed --timeout 20 2>&1)
check "namespace delete completes" contains "$out" 'namespace "doomed" deleted'
out=$("$SKIFF" get cm inside -n doomed 2>&1 || true)
check "namespace content removed" contains "$out" "not found"

# Restart keeps data; a second skiff on the same data dir is refused.
"$SKIFF" apply -f "$EXAMPLES/hello/app.yaml" >/dev/null
out=$("$SKIFF" up --data-dir "$WORK/data" --listen 127.0.0.1:0 2>&1 || true)
check "second skiff on same dir refused" contains "$out" "is already using"
stop_skiff TERM
start_skiff
out=$("$SKIFF" get deploy web -n hello -o name)
check "data survives restart" contains "$out" "deployment.apps/web"

# A corrupt store gives a clear message, not a crash, and the file is left alone for recovery.
stop_skiff TERM
mkdir -p "$WORK/corrupt"
head -c 65536 /dev/urandom >"$WORK/corrupt/store.db"
cp "$WORK/corrupt/store.db" "$WORK/corrupt.orig"
out=$("$SKIFF" up --data-dir "$WORK/corrupt" --listen 127.0.0.1:0 2>&1 || true)
check "corrupt store: clear message" contains "$out" "corrupt/store.db"
check "corrupt store: file untouched" cmp "$WORK/corrupt/store.db" "$WORK/corrupt.orig"

for cmd in up server agent get apply logs; do
  check "skiff $cmd --help prints its usage and flags" bash -c "'$SKIFF' $cmd --help | grep -q '^Usage: skiff $cmd' && '$SKIFF' $cmd -h | grep -q -- '--'"
done
finish
