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
  "$SKIFF" up --data-dir .skiff >.skiff/skiff.log 2>&1 &
  echo $! > .skiff/skiff.pid
  for _ in $(seq 1 100); do [ -s .skiff/kubeconfig ] && "$SKIFF" version >/dev/null 2>&1 && break; sleep 0.05; done
  head -4 .skiff/skiff.log
fi
export KUBECONFIG=$PWD/.skiff/kubeconfig
"$SKIFF" apply -f examples/hello/namespace.yaml
"$SKIFF" apply -f examples/hello/
echo
"$SKIFF" get deploy,svc,cm -n hello
cat <<MSG

skiff is running (pid $(cat .skiff/skiff.pid)); its log is .skiff/skiff.log.
Where to look:
  $SKIFF get all -n hello              # our CLI
  KUBECONFIG=$KUBECONFIG kubectl get deploy -n hello -o yaml
  $SKIFF get pods -A -w                # watch (Ctrl-C to stop)
The objects are stored and validated; the agent that runs their pods comes with the next milestone.
Stop it with: kill \$(cat .skiff/skiff.pid)
MSG
