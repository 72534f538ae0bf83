#!/usr/bin/env bash
# Git push -> change live in the cluster, through an Argo CD Application: with the push webhook
# and with polling only. A git daemon on loopback serves the repository; each run commits a new
# value into a ConfigMap, starts the clock, pushes (and for the webhook runs posts a GitHub push
# event to /api/webhook), and stops the clock when the API shows the new value (read every 2 ms).
# Usage: bench/run-gitops.sh build/skiff [WEBHOOK_RUNS] [POLL_RUNS] [POLL_INTERVAL]
set -euo pipefail
SKIFF=$(readlink -f "$1")
WEBHOOK_RUNS=${2:-20}
POLL_RUNS=${3:-5}
POLL=${4:-10s}
BENCH_NAME=gitops
source "$(dirname "$0")/lib.sh"
need_commands "apt-get install git" git

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$W/git"
git init -q --bare -b main "$W/git/bench.git"
git daemon --export-all --base-path="$W/git" --port="$PORT" --listen=127.0.0.1 --reuseaddr "$W/git" >"$W/daemon.log" 2>&1 &
PIDS+=($!)
REPO="git://127.0.0.1:$PORT/bench.git"
git init -q -b main "$W/src"
git -C "$W/src" config user.email bench@skiff.local
git -C "$W/src" config user.name bench
mkdir -p "$W/src/app"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bench}\ndata: {v: "0"}\n' >"$W/src/app/cm.yaml"
git -C "$W/src" add -A && git -C "$W/src" commit -q -m 0 && git -C "$W/src" push -q "$W/git/bench.git" main

"$SKIFF" up --data-dir "$W/data" --listen 127.0.0.1:0 --runtime process --no-agent --gitops-poll-interval "$POLL" >"$W/up.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 200); do [ -s "$W/data/kubeconfig" ] && grep -q "skiff is up" "$W/up.log" && break; sleep 0.05; done
export KUBECONFIG="$W/data/kubeconfig"
kubectl create namespace argocd >/dev/null
cat <<EOF | kubectl apply -f - >/dev/null
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: bench, namespace: argocd}
spec:
  project: default
  source: {repoURL: "$REPO", path: app}
  destination: {server: https://kubernetes.default.svc, namespace: bench}
  syncPolicy: {automated: {prune: true, selfHeal: true}, syncOptions: [CreateNamespace=true]}
EOF
for _ in $(seq 1 100); do kubectl get configmap bench -n bench >/dev/null 2>&1 && break; sleep 0.1; done

SERVER=$(awk '/server:/{print $2}' "$KUBECONFIG")
python3 - "$SERVER" "$(cat "$W/data/token")" "$W/data/tls/ca.crt" "$W/src" "$W/git/bench.git" "$REPO" "$WEBHOOK_RUNS" "$POLL_RUNS" <<'PY'
import http.client, json, ssl, statistics, subprocess, sys, time, urllib.parse
server, token, ca, src, bare, repo, webhook_runs, poll_runs = sys.argv[1:9]
u = urllib.parse.urlparse(server)
ctx = ssl.create_default_context(cafile=ca)
api = http.client.HTTPSConnection(u.hostname, u.port, context=ctx)

def live_value():
    api.request("GET", "/api/v1/namespaces/bench/configmaps/bench", headers={"Authorization": "Bearer " + token})
    r = api.getresponse()
    body = r.read()
    return json.loads(body)["data"]["v"] if r.status == 200 else None

def webhook():
    c = http.client.HTTPSConnection(u.hostname, u.port, context=ctx)
    body = json.dumps({"ref": "refs/heads/main", "repository": {"clone_url": repo}})
    c.request("POST", "/api/webhook", body, {"X-GitHub-Event": "push", "Content-Type": "application/json"})
    c.getresponse().read()

value = 0
def run(with_webhook, limit):
    global value
    value += 1
    with open(src + "/app/cm.yaml", "w") as f:
        f.write('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bench}\ndata: {v: "%d"}\n' % value)
    subprocess.run(["git", "-C", src, "commit", "-qam", str(value)], check=True)
    start = time.monotonic()
    subprocess.run(["git", "-C", src, "push", "-q", bare, "main"], check=True)
    if with_webhook:
        webhook()
    while time.monotonic() - start < limit:
        if live_value() == str(value):
            return (time.monotonic() - start) * 1000
        time.sleep(0.002)
    return None

def report(name, samples):
    ok = [s for s in samples if s is not None]
    if not ok:
        print(f"{name}: no run converged"); return
    print(f"{name}: runs {len(samples)} converged {len(ok)}  median {statistics.median(ok):.0f} ms  "
          f"min {min(ok):.0f} ms  max {max(ok):.0f} ms")

report("webhook  (push -> live)", [run(True, 30) for _ in range(int(webhook_runs))])
time.sleep(1)
report("polling  (push -> live)", [run(False, 300) for _ in range(int(poll_runs))])
PY
