#!/usr/bin/env bash
# make demo: start skiff with its data in ./.skiff, apply examples/, and say where to look.
# Leaves skiff running in the background; stop it with: kill $(cat .skiff/skiff.pid)
set -euo pipefail
SKIFF=${1:-build/skiff}
cd "$(dirname "$0")/.."
mkdir -p .skiff
if [ -f .skiff/skiff.pid ] && kill -0 "$(cat .skiff/skiff.pid)" 2>/dev/null; then
  echo "skiff is already running (pid $(cat .skiff/skiff.pid))"
else
  "$SKIFF" up --data-dir .skiff --runtime process >.skiff/skiff.log 2>&1 &
  echo $! > .skiff/skiff.pid
  for _ in $(seq 1 100); do [ -s .skiff/kubeconfig ] && "$SKIFF" version >/dev/null 2>&1 && break; sleep 0.05; done
  head -4 .skiff/skiff.log
fi
export KUBECONFIG=$PWD/.skiff/kubeconfig
"$SKIFF" apply -f examples/hello/namespace.yaml
"$SKIFF" apply -f examples/hello/
echo
for _ in $(seq 1 100); do
  [ "$("$SKIFF" get deploy web -n hello -o json | python3 -c 'import json,sys; print(json.load(sys.stdin).get("status",{}).get("readyReplicas",0))')" = 2 ] && break
  sleep 0.2
done
"$SKIFF" get deploy,pods,svc -n hello -o wide
cat <<MSG

skiff is running (pid $(cat .skiff/skiff.pid)); its log is .skiff/skiff.log.
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
