#!/usr/bin/env bash
# make demo: start skiff with its data in ./.skiff, deploy the demo shop (examples/shop: frontend,
# catalog with a 90/10 canary, cart, orders, behind a Gateway on :8088), send it some traffic and
# say where to look. As root with the shop image built (build/shop-image) the pods are real
# containers (native runtime); otherwise the smaller examples/hello runs as host processes.
# Leaves skiff running in the background; stop it with: kill $(cat .skiff/skiff.pid)
set -euo pipefail
SKIFF=$(readlink -f "${1:-build/skiff}")
IMAGE=$(dirname "$SKIFF")/shop-image
cd "$(dirname "$0")/.."
mkdir -p .skiff
SHOP=0
[ "$(id -u)" = 0 ] && [ -f "$IMAGE/index.json" ] && SHOP=1
if [ -f .skiff/skiff.pid ] && kill -0 "$(cat .skiff/skiff.pid)" 2>/dev/null; then
  echo "skiff is already running (pid $(cat .skiff/skiff.pid))"
else
  runtime=(--runtime process)
  [ "$SHOP" = 1 ] && runtime=(--runtime native)
  "$SKIFF" up --data-dir .skiff "${runtime[@]}" >.skiff/skiff.log 2>&1 &
  echo $! > .skiff/skiff.pid
  for _ in $(seq 1 100); do [ -s .skiff/kubeconfig ] && "$SKIFF" version >/dev/null 2>&1 && break; sleep 0.05; done
  head -4 .skiff/skiff.log
fi
export KUBECONFIG=$PWD/.skiff/kubeconfig
PORT=$(awk -F: '/server:/{print $NF}' "$KUBECONFIG")
CONSOLE="https://127.0.0.1:$PORT/ui/#token=$(cat .skiff/token)"

ready() {  # ready NAMESPACE DEPLOYMENT COUNT
  for _ in $(seq 1 150); do
    [ "$("$SKIFF" get deploy "$2" -n "$1" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin).get("status",{}).get("readyReplicas",0))')" -ge "$3" ] && return 0
    sleep 0.2
  done
  echo "note: $1/$2 is not ready yet; see: $SKIFF describe deploy $2 -n $1" >&2
}

if [ "$SHOP" = 1 ]; then
  "$SKIFF" image import "$IMAGE" --name skiff.local/shop:1.0
  "$SKIFF" apply -f examples/shop/shop.yaml >/dev/null
  "$SKIFF" apply -f examples/shop/deployments.yaml >/dev/null
  for d in catalog-v1:2 catalog-v2:1 cart:1 orders:1 frontend:2; do ready shop "${d%%:*}" "${d##*:}"; done
  "$SKIFF" get deploy,svc -n shop
  echo
  echo "Sending the shop some traffic for 10 s (so the console's graph and charts have something to show)..."
  end=$((SECONDS + 10))
  while [ $SECONDS -lt $end ]; do
    curl -s -o /dev/null http://127.0.0.1:8088/ || true
    curl -s -o /dev/null http://127.0.0.1:8088/api/products || true
    curl -s -o /dev/null -X POST http://127.0.0.1:8088/api/cart || true
  done
  v2=$(for _ in $(seq 1 200); do curl -s http://127.0.0.1:8088/api/products; echo; done | grep -c '"version":"v2"' || true)
  cat <<MSG

The shop is up at http://127.0.0.1:8088/  (API under /api/products, /api/cart, /api/orders).
The console:  $CONSOLE
  (the token in the link stays in your browser tab; the certificate is skiff's own CA: .skiff/tls/ca.crt)
Catalog canary: v2 answered $v2 of 200 requests just now (the HTTPRoute says 10%).

Three things to try:
  1. Kill a pod and watch it heal (Workloads page, or $SKIFF get pods -n shop -w):
       $SKIFF delete pod -n shop -l app=cart
  2. Roll out a new version of the frontend and watch it replace pods one by one:
       KUBECONFIG=$KUBECONFIG kubectl set env deploy/frontend -n shop VERSION=v2
       $SKIFF rollout status deploy/frontend -n shop && curl -s http://127.0.0.1:8088/ | head -c 80
  3. Watch the canary split (Service graph page), then move it to 50/50:
       for i in \$(seq 200); do curl -s http://127.0.0.1:8088/api/products; echo; done | sort | uniq -c
       KUBECONFIG=$KUBECONFIG kubectl patch httproute shop -n shop --type=json \\
         -p '[{"op":"replace","path":"/spec/rules/0/backendRefs/0/weight","value":50},{"op":"replace","path":"/spec/rules/0/backendRefs/1/weight","value":50}]'
Stop it with: kill \$(cat .skiff/skiff.pid)
MSG
  exit 0
fi

# Without root (or umoci): the hello example as host processes.
"$SKIFF" apply -f examples/hello/namespace.yaml
"$SKIFF" apply -f examples/hello/
echo
ready hello web 2
"$SKIFF" get deploy,pods,svc -n hello -o wide
cat <<MSG

skiff is running (pid $(cat .skiff/skiff.pid)); its log is .skiff/skiff.log.
(The demo shop needs root and umoci for real containers; this is the smaller hello example.)
The console:  $CONSOLE
Where to look:
  $SKIFF get all -n hello              # our CLI
  KUBECONFIG=$KUBECONFIG kubectl get deploy -n hello -o yaml
  $SKIFF get pods -A -w                # watch (Ctrl-C to stop)
The two web pods are real processes on this machine (process runtime); try:
  $SKIFF logs -n hello -l app=web                # their output
  $SKIFF delete pod -n hello -l app=web          # kill them and watch the Deployment replace them
  $SKIFF scale deploy/web -n hello --replicas=4  # and $SKIFF rollout restart deploy/web -n hello
Stop it with: kill \$(cat .skiff/skiff.pid)
MSG
