#!/usr/bin/env bash
# GitOps end to end: a real Git server on loopback (git daemon), pushes with the git CLI, Argo CD
# Applications applied unchanged. An Application syncs a directory; a commit changing the image
# rolls the Deployment after the push webhook; a patch of a managed object is reverted
# (selfHeal); a file removed from Git is pruned (Prune=false honoured); a bad manifest shows
# OutOfSync with its reason while the rest is applied; rollback to an earlier revision; Helm
# chart and kustomize overlay sources; polling without a webhook; bad input (unreachable repo,
# unknown revision, bad webhook signature) gives a condition and an Event while the other
# Applications keep being served; skiff app list/get/diff/history/sync/delete; an ApplicationSet
# with the list generator.
source "$(dirname "$0")/lib.sh"

DAEMON_PID=
HTTP_PID=
stop_servers() {
  for pid in $DAEMON_PID $HTTP_PID; do
    if kill -0 "$pid" 2>/dev/null; then kill "$pid"; wait "$pid" 2>/dev/null || true; fi
  done
}
trap 'stop_servers; cleanup' EXIT

GIT_PORT=$(free_port)
mkdir -p "$WORK/git"
git init -q --bare -b main "$WORK/git/apps.git"
git daemon --export-all --base-path="$WORK/git" --port="$GIT_PORT" --listen=127.0.0.1 --reuseaddr "$WORK/git" >"$WORK/daemon.log" 2>&1 &
DAEMON_PID=$!
REPO="git://127.0.0.1:$GIT_PORT/apps.git"
for _ in $(seq 1 50); do git ls-remote "$REPO" >/dev/null 2>&1 && break; sleep 0.1; done
# The same repositories over smart HTTP with basic auth (git http-backend behind a CGI host).
python3 "$(dirname "$0")/tools/git_http_server.py" "$WORK/http.port" "$WORK/git" bob token123 &
HTTP_PID=$!
for _ in $(seq 1 50); do [ -s "$WORK/http.port" ] && break; sleep 0.1; done
HTTP_REPO="http://127.0.0.1:$(cat "$WORK/http.port")/apps.git"

SRC="$WORK/src"
git init -q -b main "$SRC"
git -C "$SRC" config user.email e2e@skiff.local
git -C "$SRC" config user.name e2e
commit() { git -C "$SRC" add -A && git -C "$SRC" commit -q -m "$1" && git -C "$SRC" push -q "$WORK/git/apps.git" main && git -C "$SRC" rev-parse HEAD; }

mkdir -p "$SRC/guestbook"
write_deployment() {  # image
  cat >"$SRC/guestbook/deployment.yaml" <<EOF
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: "$1"}
EOF
}
write_deployment busybox:1.36
cat >"$SRC/guestbook/config.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  annotations: {argocd.argoproj.io/sync-wave: "-1"}
data: {color: blue}
EOF
cat >"$SRC/guestbook/extra.yml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata: {name: extra}
data: {a: "1"}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: keeper
  annotations: {argocd.argoproj.io/sync-options: Prune=false}
data: {a: "1"}
EOF
echo "not a manifest" >"$SRC/guestbook/README.md"
# A Helm chart with a values file, and a kustomize overlay on a base.
mkdir -p "$SRC/charts/web/templates"
cat >"$SRC/charts/web/Chart.yaml" <<'EOF'
apiVersion: v2
name: web
version: 0.1.0
EOF
cat >"$SRC/charts/web/values.yaml" <<'EOF'
replicas: 1
color: red
EOF
cat >"$SRC/charts/web/values-prod.yaml" <<'EOF'
color: green
EOF
cat >"$SRC/charts/web/templates/config.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
data:
  color: {{ .Values.color | quote }}
  size: {{ .Values.size | default "small" | quote }}
EOF
mkdir -p "$SRC/kustomize/base" "$SRC/kustomize/overlays/prod"
cat >"$SRC/kustomize/base/kustomization.yaml" <<'EOF'
resources: [deployment.yaml]
EOF
cat >"$SRC/kustomize/base/deployment.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  replicas: 1
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers: [{name: api, image: busybox:1.35}]
EOF
cat >"$SRC/kustomize/overlays/prod/kustomization.yaml" <<'EOF'
resources: [../../base]
nameSuffix: -prod
EOF
REV1=$(commit "first")

SECRET=s3cret
start_skiff --simulated-nodes 2 --no-agent --gitops-poll-interval 20s --gitops-webhook-secret "$SECRET"
K() { kubectl "$@"; }
K create namespace argocd >/dev/null

# webhook PAYLOAD [secret] [event]: a GitHub push, signed; prints the HTTP code.
webhook() {
  local body=$1 secret=${2:-$SECRET}
  local sig
  sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$secret" | awk '{print $NF}')
  curl -sS -k -o "$WORK/webhook.out" -w '%{http_code}' -X POST -H 'X-GitHub-Event: push' -H "X-Hub-Signature-256: sha256=$sig" \
    -H 'Content-Type: application/json' --data-binary "$body" "$SERVER/api/webhook"
}
PUSH="{\"ref\":\"refs/heads/main\",\"repository\":{\"clone_url\":\"$REPO\",\"html_url\":\"http://127.0.0.1/apps\"}}"

cat <<EOF | K apply -f - >/dev/null
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: guestbook
  namespace: argocd
spec:
  project: default
  source:
    repoURL: $REPO
    targetRevision: HEAD
    path: guestbook
  destination:
    server: https://kubernetes.default.svc
    namespace: guestbook
  syncPolicy:
    automated: {prune: true, selfHeal: true}
    syncOptions: [CreateNamespace=true]
EOF

app_field() { K get application "$1" -n argocd -o jsonpath="$2"; }
synced_healthy() { [ "$(app_field "$1" '{.status.sync.status}/{.status.health.status}')" = "Synced/Healthy" ]; }
check "the Application is served as Argo CD's CRD" kubectl get crd applications.argoproj.io
check "guestbook syncs and turns Healthy" wait_for "guestbook synced" 30 synced_healthy guestbook
check "the destination namespace was created (CreateNamespace=true)" K get namespace guestbook
check "the deployment was applied into the destination namespace" K get deployment web -n guestbook
out=$(K get deployment web -n guestbook -o jsonpath='{.metadata.labels.app\.kubernetes\.io/instance} {.metadata.managedFields[*].manager}')
check "the tracking label and argocd-controller field manager are set" contains "$out" "guestbook"
check "the field manager is argocd-controller" contains "$out" "argocd-controller"
check "the README is not a manifest" bash -c "! K get configmap README -n guestbook 2>/dev/null"
check "the status revision is the pushed commit" test "$(app_field guestbook '{.status.sync.revision}')" = "$REV1"
out=$(app_field guestbook '{range .status.resources[*]}{.kind}/{.name}={.status},{.health.status};{end}')
check "status.resources lists every object with sync and health" contains "$out" "Deployment/web=Synced,Healthy"
check "history holds the first sync" test "$(app_field guestbook '{.status.history[0].revision}')" = "$REV1"
check "operationState succeeded" test "$(app_field guestbook '{.status.operationState.phase}')" = "Succeeded"
out=$("$SKIFF" app list 2>&1)
check "skiff app list shows it" contains "$out" "argocd/guestbook"
check "skiff app list shows sync and health" contains "$out" "Synced   Healthy"
out=$("$SKIFF" app get guestbook 2>&1)
check "skiff app get shows the resources" contains "$out" "Deployment"
check "skiff app diff finds nothing when in sync" "$SKIFF" app diff guestbook

# Bad input first: the other Applications must keep being served afterwards.
DEAD_PORT=$(free_port)
cat <<EOF | K apply -f - >/dev/null
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: unreachable, namespace: argocd}
spec:
  project: default
  source: {repoURL: "git://127.0.0.1:$DEAD_PORT/nope.git", path: x}
  destination: {server: https://kubernetes.default.svc, namespace: nope}
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: norevision, namespace: argocd}
spec:
  project: default
  source: {repoURL: "$REPO", targetRevision: does-not-exist, path: guestbook}
  destination: {server: https://kubernetes.default.svc, namespace: nope}
EOF
has_condition() { app_field "$1" '{.status.conditions[*].message}' | grep -q -- "$2"; }
check "an unreachable repository gives a ComparisonError condition" wait_for "unreachable condition" 20 has_condition unreachable "cannot reach"
check "an unknown revision gives a condition naming it" wait_for "norevision condition" 20 has_condition norevision "unable to resolve 'does-not-exist'"
check "the condition type is ComparisonError" test "$(app_field norevision '{.status.conditions[0].type}')" = ComparisonError
events() { K get events -n argocd -o jsonpath='{range .items[*]}{.involvedObject.name}:{.reason};{end}'; }
check "an Event records the comparison error" wait_for "event" 10 bash -c "kubectl get events -n argocd -o jsonpath='{range .items[*]}{.involvedObject.name}:{.reason};{end}' | grep -q 'norevision:ComparisonError'"

# A bad signature is refused (400) and changes nothing.
code=$(webhook "$PUSH" wrong-secret)
check "a webhook with a bad signature gets 400" test "$code" = 400
code=$(curl -sS -k -o /dev/null -w '%{http_code}' -X POST -H 'X-GitHub-Event: push' --data-binary "$PUSH" "$SERVER/api/webhook")
check "an unsigned webhook gets 400 when a secret is set" test "$code" = 400
check "the refusal is logged" grep -q "refused webhook" "$WORK/up.log"

# A new image, pushed and announced by the webhook, rolls out.
write_deployment busybox:1.37
REV2=$(commit "new image")
start=$(date +%s%N)
code=$(webhook "$PUSH")
check "a signed webhook is accepted" test "$code" = 200
check "the webhook refreshed the Applications on the repository" grep -q '"refreshed":[1-9]' "$WORK/webhook.out"
image_is() { [ "$(K get deployment web -n guestbook -o jsonpath='{.spec.template.spec.containers[0].image}')" = "$1" ]; }
check "the deployment rolls to the new image after the webhook" wait_for "new image" 10 image_is busybox:1.37
echo "push -> live with the webhook: $(( ($(date +%s%N) - start) / 1000000 )) ms"
check "the status follows the new revision" wait_for "rev2" 10 bash -c "[ \"\$(kubectl get application guestbook -n argocd -o jsonpath='{.status.sync.revision}')\" = $REV2 ]"

# selfHeal: drift on a managed object is reverted from the watch.
K patch deployment web -n guestbook --type merge -p '{"spec":{"replicas":5}}' >/dev/null
replicas_are() { [ "$(K get deployment web -n guestbook -o jsonpath='{.spec.replicas}')" = "$1" ]; }
check "selfHeal reverts a patched deployment" wait_for "replicas back" 10 replicas_are 2
K patch configmap settings -n guestbook --type merge -p '{"data":{"color":"pink"}}' >/dev/null
check "selfHeal reverts a patched configmap" wait_for "color back" 10 bash -c "[ \"\$(kubectl get configmap settings -n guestbook -o jsonpath='{.data.color}')\" = blue ]"

# Prune: files removed from Git go, unless marked Prune=false.
rm "$SRC/guestbook/extra.yml"
REV3=$(commit "drop extra")
webhook "$PUSH" >/dev/null
gone() { ! K get configmap "$1" -n guestbook >/dev/null 2>&1; }
check "a configmap removed from Git is pruned" wait_for "extra pruned" 10 gone extra
check "Prune=false keeps its object" K get configmap keeper -n guestbook
# As in Argo CD, the kept object leaves the Application OutOfSync until someone removes it.
out=$(app_field guestbook '{range .status.resources[*]}{.name}:{.status}:{.requiresPruning};{end}')
check "the kept object is reported as requiring pruning" contains "$out" "keeper:OutOfSync:true"
K delete configmap keeper -n guestbook >/dev/null

# A bad manifest: OutOfSync with the reason, the rest still applied.
echo "kind: [unclosed" >"$SRC/guestbook/broken.yaml"
cat >"$SRC/guestbook/config.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  annotations: {argocd.argoproj.io/sync-wave: "-1"}
data: {color: green}
EOF
REV4=$(commit "broken manifest")
webhook "$PUSH" >/dev/null
check "the good change next to a bad manifest is applied" wait_for "green" 10 bash -c "[ \"\$(kubectl get configmap settings -n guestbook -o jsonpath='{.data.color}')\" = green ]"
check "the Application is OutOfSync" wait_for "outofsync" 10 bash -c "[ \"\$(kubectl get application guestbook -n argocd -o jsonpath='{.status.sync.status}')\" = OutOfSync ]"
check "a condition names the bad file" wait_for "condition" 5 has_condition guestbook "broken.yaml"
check "health is Degraded" test "$(app_field guestbook '{.status.health.status}')" = Degraded
check "the other objects stay applied" K get deployment web -n guestbook
out=$("$SKIFF" app diff guestbook 2>&1) && rc=0 || rc=$?
check "skiff app diff reports the bad manifest and exits 1" test "$rc" = 1
check "skiff app diff names the file" contains "$out" "broken.yaml"
rm "$SRC/guestbook/broken.yaml"
REV5=$(commit "fix")
webhook "$PUSH" >/dev/null
check "fixing the manifest brings it back to Synced" wait_for "synced again" 10 synced_healthy guestbook

# History and rollback to the first revision (automated sync is turned off).
out=$("$SKIFF" app history guestbook 2>&1)
check "history lists the first revision" contains "$out" "$REV1"
check "history lists the latest revision" contains "$out" "$REV3"
id=$(app_field guestbook '{.status.history[0].id}')
out=$("$SKIFF" app rollback guestbook "$id" 2>&1)
check "skiff app rollback succeeds" contains "$out" "Succeeded"
check "rollback restores the first revision's image" wait_for "old image" 10 image_is busybox:1.36
check "rollback turned automated sync off" test -z "$(app_field guestbook '{.spec.syncPolicy.automated}')"
check "after rollback the app is OutOfSync with HEAD" wait_for "outofsync" 10 bash -c "[ \"\$(kubectl get application guestbook -n argocd -o jsonpath='{.status.sync.status}')\" = OutOfSync ]"
out=$("$SKIFF" app diff guestbook 2>&1) && rc=0 || rc=$?
check "skiff app diff shows the image Git wants" contains "$out" "busybox:1.37"
out=$("$SKIFF" app sync guestbook 2>&1)
check "skiff app sync brings HEAD back" contains "$out" "Succeeded"
check "the deployment runs HEAD's image again" wait_for "head image" 10 image_is busybox:1.37

# Helm chart with a values file, and a kustomize overlay with Argo CD's kustomize options.
cat <<EOF | K apply -f - >/dev/null
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: chart, namespace: argocd}
spec:
  project: default
  source:
    repoURL: $REPO
    path: charts/web
    helm:
      releaseName: shop
      valueFiles: [values-prod.yaml]
      parameters: [{name: size, value: large}]
  destination: {server: https://kubernetes.default.svc, namespace: helm-app}
  syncPolicy: {automated: {}, syncOptions: [CreateNamespace=true]}
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: overlay, namespace: argocd}
spec:
  project: default
  source:
    repoURL: $REPO
    path: kustomize/overlays/prod
    kustomize:
      namePrefix: shop-
      images: [busybox=busybox:1.34]
  destination: {server: https://kubernetes.default.svc, namespace: kust-app}
  syncPolicy: {automated: {}, syncOptions: [CreateNamespace=true]}
EOF
check "the Helm source renders with the values file and parameters" wait_for "helm cm" 20 bash -c \
  "[ \"\$(kubectl get configmap shop-config -n helm-app -o jsonpath='{.data.color}/{.data.size}')\" = green/large ]"
check "the Helm Application reports sourceType Helm" wait_for "helm type" 5 bash -c "[ \"\$(kubectl get application chart -n argocd -o jsonpath='{.status.sourceType}')\" = Helm ]"
check "the kustomize overlay renders with namePrefix and the image override" wait_for "kustomize deploy" 20 bash -c \
  "[ \"\$(kubectl get deployment shop-api-prod -n kust-app -o jsonpath='{.spec.template.spec.containers[0].image}')\" = busybox:1.34 ]"

# An ApplicationSet with the list generator stamps out one Application per environment.
cat <<EOF | K apply -f - >/dev/null
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: envs, namespace: argocd}
spec:
  generators:
  - list:
      elements: [{env: dev}, {env: prod}]
  template:
    metadata: {name: 'envs-{{env}}'}
    spec:
      project: default
      source: {repoURL: "$REPO", path: kustomize/base}
      destination: {server: https://kubernetes.default.svc, namespace: 'set-{{env}}'}
      syncPolicy: {automated: {}, syncOptions: [CreateNamespace=true]}
EOF
check "the ApplicationSet generates one Application per element" wait_for "appset apps" 20 bash -c "kubectl get application envs-dev envs-prod -n argocd"
check "each generated Application deploys into its own namespace" wait_for "appset deploy" 20 bash -c "kubectl get deployment api -n set-dev && kubectl get deployment api -n set-prod"
check "the ApplicationSet reports ResourcesUpToDate" wait_for "appset status" 10 bash -c \
  "[ \"\$(kubectl get applicationset envs -n argocd -o jsonpath='{.status.conditions[0].status}')\" = True ]"
K patch applicationset envs -n argocd --type json -p '[{"op":"remove","path":"/spec/generators/0/list/elements/1"}]' >/dev/null
check "an element removed from the list deletes its Application" wait_for "envs-prod gone" 10 bash -c "! kubectl get application envs-prod -n argocd 2>/dev/null"
check "the remaining Application stays" K get application envs-dev -n argocd

# Polling: a push without a webhook is picked up at the next poll (20 s here).
sed -i 's/color: green/color: yellow/' "$SRC/charts/web/values-prod.yaml"
commit "yellow" >/dev/null
check "polling picks up a push without a webhook" wait_for "yellow" 30 bash -c \
  "[ \"\$(kubectl get configmap shop-config -n helm-app -o jsonpath='{.data.color}')\" = yellow ]"

# A private repository over HTTP: credentials from an Argo CD repository Secret.
cat <<EOF | K apply -f - >/dev/null
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: private, namespace: argocd}
spec:
  project: default
  source: {repoURL: "$HTTP_REPO", path: kustomize/base}
  destination: {server: https://kubernetes.default.svc, namespace: private}
  syncPolicy: {automated: {}, syncOptions: [CreateNamespace=true]}
EOF
check "without a repository Secret the condition asks for credentials" wait_for "no creds" 20 has_condition private "no repository Secret"
repo_secret() {  # password
  cat <<EOF | K apply -f - >/dev/null
apiVersion: v1
kind: Secret
metadata:
  name: private-repo
  namespace: argocd
  labels: {argocd.argoproj.io/secret-type: repository}
stringData: {url: "$HTTP_REPO", username: bob, password: "$1"}
EOF
  K annotate application private -n argocd argocd.argoproj.io/refresh=hard --overwrite >/dev/null
}
repo_secret wrong
check "wrong credentials are named in the condition" wait_for "bad creds" 20 has_condition private "refused the credentials"
repo_secret token123
check "with the right credentials the private repository syncs" wait_for "private synced" 20 K get deployment api -n private
check "the refresh annotation is removed once served" wait_for "annotation gone" 10 bash -c \
  "[ -z \"\$(kubectl get application private -n argocd -o jsonpath='{.metadata.annotations.argocd\\.argoproj\\.io/refresh}')\" ]"

# The bad Applications never stopped the others; deleting one cascades.
check "the unreachable Application still reports its condition" has_condition unreachable "cannot reach"
out=$("$SKIFF" app delete overlay 2>&1)
check "skiff app delete deletes the Application" contains "$out" "deleted"
check "cascading delete removes what it deployed" wait_for "overlay gone" 10 bash -c "! kubectl get deployment shop-api-prod -n kust-app 2>/dev/null"
check "the Application is gone" wait_for "app gone" 10 bash -c "! kubectl get application overlay -n argocd 2>/dev/null"
if [ "$FAILED" != 0 ]; then  # what the controller saw, for the failure report
  kubectl get applications -n argocd -o yaml >&2 || true
  grep -E '"(gitops|application-controller)"' "$WORK/up.log" | tail -20 >&2 || true
fi
finish
