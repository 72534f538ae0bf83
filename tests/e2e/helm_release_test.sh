#!/usr/bin/env bash
# skiff helm install/upgrade/rollback/uninstall/test against a running skiff: objects created in
# Helm's order with Helm's ownership metadata, releases stored as Helm's Secret driver stores
# them (decoded here as a user would: base64 -d | base64 -d | gunzip | jq), hooks, and the
# messages Helm gives for what it refuses.
source "$(dirname "$0")/lib.sh"
export SKIFF_RESTART_BACKOFF_MS=300
CHART=$(cd "$(dirname "$0")/../fixtures/helm/relapp" && pwd)
REPO_PID=
stop_repo() { if [ -n "$REPO_PID" ]; then kill "$REPO_PID" 2>/dev/null || true; wait "$REPO_PID" 2>/dev/null || true; REPO_PID=; fi; }
trap 'stop_repo; cleanup' EXIT
start_skiff
helm() { "$SKIFF" helm "$@"; }
release_json() {  # release_json NS NAME REVISION: the stored release, decoded as a user would
  kubectl get secret -n "$1" "sh.helm.release.v1.$2.v$3" -o jsonpath='{.data.release}' | base64 -d | base64 -d | gunzip
}

# --- install ---
out=$(helm install rel "$CHART" -n apps --create-namespace --wait --timeout 90s 2>&1)
check "install reports deployed" contains "$out" "STATUS: deployed"
check "install prints the rendered NOTES.txt" contains "$out" "rel runs busybox:1 in apps."
out=$(kubectl get deploy,svc,cm -n apps -o name)
check "kubectl sees the release's Deployment" contains "$out" "deployment.apps/rel-web"
check "kubectl sees the release's Service" contains "$out" "service/rel-web"
check "kubectl sees the release's ConfigMaps" contains "$out" "configmap/rel-extra"
out=$(kubectl get deploy rel-web -n apps -o jsonpath='{.metadata.labels.app\.kubernetes\.io/managed-by} {.metadata.annotations.meta\.helm\.sh/release-name} {.metadata.annotations.meta\.helm\.sh/release-namespace}')
check "objects carry Helm's ownership label and annotations" test "$out" = "Helm rel apps"
out=$(kubectl get deploy rel-web -n apps -o jsonpath='{.status.readyReplicas}')
check "--wait returned with the Deployment ready" test "$out" = 1
out=$(kubectl get secret -n apps sh.helm.release.v1.rel.v1 -o jsonpath='{.type} {.metadata.labels.owner} {.metadata.labels.name} {.metadata.labels.status} {.metadata.labels.version}')
check "the release Secret has Helm's type and labels" test "$out" = "helm.sh/release.v1 helm rel deployed 1"
# Created pending-install (createdAt), then updated to deployed: Helm's update rewrites the labels.
check "the release Secret has a modifiedAt label" test -n "$(kubectl get secret -n apps sh.helm.release.v1.rel.v1 -o jsonpath='{.metadata.labels.modifiedAt}')"
rel=$(release_json apps rel 1)
check "decoded release: name, namespace, version" test "$(jq -r '[.name, .namespace, .version] | join(" ")' <<<"$rel")" = "rel apps 1"
check "decoded release: info.status and description" test "$(jq -r '.info.status + "/" + .info.description' <<<"$rel")" = "deployed/Install complete"
check "decoded release: first_deployed is an RFC 3339 time" grep -Eq '^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$' <<<"$(jq -r .info.first_deployed <<<"$rel")"
check "decoded release: deleted is Go's zero time" test "$(jq -r .info.deleted <<<"$rel")" = "0001-01-01T00:00:00Z"
check "decoded release: chart metadata" test "$(jq -r '.chart.metadata.name + "-" + .chart.metadata.version' <<<"$rel")" = "relapp-0.1.0"
check "decoded release: chart templates are base64 files" test "$(jq -r '.chart.templates[] | select(.name=="templates/service.yaml") | .data' <<<"$rel" | base64 -d | head -1)" = "apiVersion: v1"
check "decoded release: chart values" test "$(jq -r .chart.values.image <<<"$rel")" = "busybox:1"
check "decoded release: manifest with Source headers" contains "$(jq -r .manifest <<<"$rel")" "# Source: relapp/templates/deployment.yaml"
check "decoded release: hooks with events and weight" test "$(jq -r '.hooks[] | select(.name=="rel-prepare") | (.events[0] + " " + (.weight|tostring) + " " + .last_run.phase)' <<<"$rel")" = "pre-install -5 Succeeded"
check "decoded release: notes" contains "$(jq -r .info.notes <<<"$rel")" "rel runs busybox:1"
# The pre-install Job had finished before the Deployment was created.
done_at=$(kubectl get job rel-prepare -n apps -o jsonpath='{.status.completionTime}')
made_at=$(kubectl get deploy rel-web -n apps -o jsonpath='{.metadata.creationTimestamp}')
check "pre-install hook Job completed before the Deployment existed ($done_at <= $made_at)" test -n "$done_at" -a ! "$done_at" \> "$made_at"
out=$(helm list -n apps)
check "list shows the release" grep -Eq '^rel[[:space:]]+apps[[:space:]]+1[[:space:]]+.*deployed[[:space:]]+relapp-0.1.0[[:space:]]+1.0' <<<"$out"

# --- upgrade: new image, a dropped object deleted ---
out=$(helm upgrade rel "$CHART" -n apps --set image=busybox:2 --set extraConfig=false --wait --timeout 90s 2>&1)
check "upgrade reports success" contains "$out" 'Release "rel" has been upgraded. Happy Helming!'
check "upgrade is revision 2" contains "$out" "REVISION: 2"
out=$(kubectl get deploy rel-web -n apps -o jsonpath='{.spec.template.spec.containers[0].image}')
check "upgrade changed the image" test "$out" = "busybox:2"
out=$(kubectl get rs -n apps -o jsonpath='{range .items[?(@.spec.template.spec.containers[0].image=="busybox:2")]}{.status.readyReplicas}{end}')
check "--wait returned once the new ReplicaSet's pod was ready" test "$out" = 1
check "upgrade deleted the object dropped from the chart" wait_for "rel-extra gone" 10 bash -c "! kubectl get cm rel-extra -n apps"
out=$(kubectl get secret -n apps -l owner=helm,name=rel -o jsonpath='{range .items[*]}{.metadata.labels.version}={.metadata.labels.status} {end}')
check "revision 1 superseded, revision 2 deployed" test "$out" = "1=superseded 2=deployed "
check "decoded revision 2 keeps the user's values as config" test "$(release_json apps rel 2 | jq -c .config)" = '{"image":"busybox:2","extraConfig":false}'
out=$(helm history rel -n apps)
check "history lists revision 1 superseded, keeping its description" grep -Eq '^1[[:space:]]+.*superseded[[:space:]]+relapp-0.1.0[[:space:]]+1.0[[:space:]]+Install complete' <<<"$out"
check "history lists revision 2 deployed" grep -Eq '^2[[:space:]]+.*deployed[[:space:]]+relapp-0.1.0[[:space:]]+1.0[[:space:]]+Upgrade complete' <<<"$out"
out=$(helm get values rel -n apps)
check "get values prints the user-supplied values" contains "$out" "image: busybox:2"

# --- rollback ---
out=$(helm rollback rel 1 -n apps --wait --timeout 90s 2>&1)
check "rollback reports success" contains "$out" "Rollback was a success! Happy Helming!"
out=$(kubectl get deploy rel-web -n apps -o jsonpath='{.spec.template.spec.containers[0].image}')
check "rollback restored the image" test "$out" = "busybox:1"
check "rollback restored the dropped object" kubectl get cm rel-extra -n apps
check "rollback is revision 3 with Helm's description" test "$(release_json apps rel 3 | jq -r '(.version|tostring) + " " + .info.description')" = "3 Rollback to 1"
out=$(helm get manifest rel -n apps)
check "get manifest prints the current manifest" contains "$out" "name: rel-extra"

# --- helm test ---
out=$(helm test rel -n apps --timeout 60s 2>&1)
check "helm test runs the test hook Pod" contains "$out" "Phase:          Succeeded"
check "the test Pod ran" test "$(kubectl get pod rel-test -n apps -o jsonpath='{.status.phase}')" = Succeeded

# --- refusals ---
kubectl create configmap taken-config -n apps --from-literal=a=b >/dev/null
out=$(helm install taken "$CHART" -n apps 2>&1) && false
check "install over an object owned by nobody is refused with Helm's message" contains "$out" 'error: INSTALLATION FAILED: Unable to continue with install: ConfigMap "taken-config" in namespace "apps" exists and cannot be imported into the current release: invalid ownership metadata; label validation error: missing key "app.kubernetes.io/managed-by": must be set to "Helm"; annotation validation error: missing key "meta.helm.sh/release-name": must be set to "taken"; annotation validation error: missing key "meta.helm.sh/release-namespace": must be set to "apps"'
check "the refused install left nothing behind" bash -c "! kubectl get deploy taken-web -n apps && ! kubectl get secret sh.helm.release.v1.taken.v1 -n apps"
out=$(helm install bad "$CHART" -n apps --set hookFails=true --timeout 60s 2>&1) && false
check "a failing hook fails the install with a clear message" contains "$out" "INSTALLATION FAILED: failed pre-install: job failed: BackoffLimitExceeded"
check "the failing hook kept the Deployment from being created" bash -c "! kubectl get deploy bad-web -n apps"
out=$(helm list -n apps)
check "list shows the failed release" grep -Eq '^bad[[:space:]]+apps[[:space:]]+1[[:space:]]+.*failed' <<<"$out"
check "the failed release's Secret is labelled failed" test "$(kubectl get secret -n apps sh.helm.release.v1.bad.v1 -o jsonpath='{.metadata.labels.status}')" = failed
check "the failed release records why" contains "$(release_json apps bad 1 | jq -r .info.description)" 'Release "bad" failed: failed pre-install'

# --- bad input ---
out=$(helm install rel2 "$CHART" -n nowhere 2>&1) && false
check "a missing namespace is named, with the flag that creates it" contains "$out" 'namespaces "nowhere" not found (add --create-namespace to create it)'
out=$(helm status nope -n apps 2>&1) && false
check "status of a missing release" contains "$out" "error: release: not found"
out=$(helm uninstall nope -n apps 2>&1) && false
check "uninstall of a missing release" contains "$out" "uninstall: Release not loaded: nope: release: not found"
printf 'image: [unclosed\n' >"$WORK/bad.yaml"
out=$(helm install other "$CHART" -n apps -f "$WORK/bad.yaml" 2>&1) && false
check "a values file that is not YAML is named" contains "$out" "failed to parse $WORK/bad.yaml"
cp -r "$CHART" "$WORK/broken"
printf 'kind: ConfigMap\nx: {{ .Values.nope.deeper }}\n' >"$WORK/broken/templates/bad.yaml"
out=$(helm install other "$WORK/broken" -n apps 2>&1) && false
check "a template error names file and line" contains "$out" "template: relapp/templates/bad.yaml:2:"

# --- uninstall ---
out=$(helm uninstall rel -n apps 2>&1)
check "uninstall reports" contains "$out" 'release "rel" uninstalled'
check "uninstall deleted the Deployment" wait_for "rel-web gone" 10 bash -c "! kubectl get deploy rel-web -n apps"
check "uninstall deleted the Service and ConfigMaps" bash -c "! kubectl get svc rel-web -n apps && ! kubectl get cm rel-config -n apps"
check "uninstall deleted every revision Secret" test -z "$(kubectl get secret -n apps -l owner=helm,name=rel -o name)"
out=$(helm uninstall bad -n apps --keep-history 2>&1)
check "uninstall --keep-history keeps the record" test "$(kubectl get secret -n apps sh.helm.release.v1.bad.v1 -o jsonpath='{.metadata.labels.status}')" = uninstalled
check "list -a shows the uninstalled release" contains "$(helm list -n apps -a)" "uninstalled"
check "list without -a hides it" lacks "$(helm list -n apps)" "bad"
# --- crds/: created before rendering on install, kept on uninstall ---
mkdir -p "$WORK/crdapp/crds" "$WORK/crdapp/templates"
printf 'apiVersion: v2\nname: crdapp\nversion: 1.0.0\n' >"$WORK/crdapp/Chart.yaml"
cat >"$WORK/crdapp/crds/widgets.yaml" <<'EOF'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: {type: integer}
EOF
printf 'apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: {{ .Release.Name }}-widget\nspec:\n  size: 3\n' >"$WORK/crdapp/templates/widget.yaml"
out=$(helm install w "$WORK/crdapp" -n apps --skip-crds 2>&1) && false
check "--skip-crds: the chart's kind is unknown, with Helm's hint" contains "$out" 'no matches for kind "Widget" in version "example.com/v1"; ensure CRDs are installed first'
out=$(helm install w "$WORK/crdapp" -n apps 2>&1)
check "install creates crds/ first, then the custom resource" contains "$out" "STATUS: deployed"
check "the Widget exists" test "$(kubectl get widgets.example.com w-widget -n apps -o jsonpath='{.spec.size}')" = 3
check "the CRD is not part of the release manifest" lacks "$(helm get manifest w -n apps)" "CustomResourceDefinition"
helm uninstall w -n apps >/dev/null
check "uninstall deletes the Widget" wait_for "w-widget gone" 10 bash -c "! kubectl get widgets.example.com w-widget -n apps"
check "uninstall keeps the CRD, as Helm does" kubectl get crd widgets.example.com

# --- chart repositories: index.yaml and packaged charts served by a loopback http.server ---
mkdir -p "$WORK/repo" "$WORK/v2"
tar -czf "$WORK/repo/relapp-0.1.0.tgz" -C "$(dirname "$CHART")" relapp
cp -r "$CHART" "$WORK/v2/relapp" && sed -i 's/^version: 0.1.0/version: 0.2.0/' "$WORK/v2/relapp/Chart.yaml"
tar -czf "$WORK/repo/relapp-0.2.0.tgz" -C "$WORK/v2" relapp
PORT=$(free_port)
cat >"$WORK/repo/index.yaml" <<EOF
apiVersion: v1
entries:
  relapp:
  - {name: relapp, version: 0.1.0, appVersion: "1.0", urls: ["http://127.0.0.1:$PORT/relapp-0.1.0.tgz"]}
  - {name: relapp, version: 0.2.0, appVersion: "1.0", urls: [relapp-0.2.0.tgz]}
  - {name: relapp, version: 0.3.0-rc.1, appVersion: "1.0", urls: [missing.tgz]}
generated: "2024-01-01T00:00:00Z"
EOF
python3 -m http.server "$PORT" --bind 127.0.0.1 --directory "$WORK/repo" >"$WORK/repo.log" 2>&1 &
REPO_PID=$!
wait_for "repository server" 10 curl -sf "http://127.0.0.1:$PORT/index.yaml"
export HELM_REPOSITORY_CONFIG="$WORK/helm/repositories.yaml"
out=$(helm repo add local "http://127.0.0.1:$PORT" 2>&1)
check "repo add" contains "$out" '"local" has been added to your repositories'
check "repo list" contains "$(helm repo list)" "http://127.0.0.1:$PORT"
out=$(helm install fromrepo local/relapp -n repo --create-namespace --timeout 60s 2>&1)
check "install REPO/NAME takes the newest release version" contains "$out" "STATUS: deployed"
check "the installed chart is 0.2.0 from the repository, not the rc" grep -Eq '^fromrepo[[:space:]]+repo[[:space:]]+1[[:space:]]+.*relapp-0.2.0' <<<"$(helm list -n repo)"
check "the repository chart's objects exist" kubectl get deploy fromrepo-web -n repo
out=$(helm upgrade fromrepo relapp --repo "http://127.0.0.1:$PORT" --version 0.1.0 -n repo 2>&1)
check "--repo URL --version pins a version" grep -Eq '^fromrepo[[:space:]]+repo[[:space:]]+2[[:space:]]+.*relapp-0.1.0' <<<"$(helm list -n repo)"
out=$(helm install x local/nochart -n repo 2>&1) && false
check "a chart missing from the repository" contains "$out" "chart \"nochart\" not found in http://127.0.0.1:$PORT repository"
out=$(helm install x local/relapp --version 9.9.9 -n repo 2>&1) && false
check "a version missing from the repository" contains "$out" "chart \"relapp\" version \"9.9.9\" not found"
out=$(helm repo add nothere "http://127.0.0.1:$(free_port)" 2>&1) && false
check "an unreachable repository" contains "$out" "is not a valid chart repository or cannot be reached"
out=$(helm install x unknown/relapp -n repo 2>&1) && false
check "an unknown repository name" contains "$out" "repo unknown not found"
stop_repo
finish
