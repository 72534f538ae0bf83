#!/usr/bin/env bash
# Time of `skiff kustomize build` vs `kubectl kustomize`: the 3-level overlay fixture and a
# generated overlay of ~500 resources (base of 250 Deployment+ConfigMap pairs, two overlays).
# Usage: bench/run-kustomize.sh build/skiff [RUNS]
set -euo pipefail
SKIFF=$(readlink -f "$1")
RUNS=${2:-15}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d -t skiff-kbench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

mkdir -p "$WORK/big/base" "$WORK/big/mid" "$WORK/big/top"
{ echo "resources:"; for i in $(seq 1 250); do echo "  - app$i.yaml"; done; echo "commonLabels: {suite: bench}"; } >"$WORK/big/base/kustomization.yaml"
for i in $(seq 1 250); do
  cat >"$WORK/big/base/app$i.yaml" <<YAML
apiVersion: v1
kind: ConfigMap
metadata: {name: conf$i}
data: {key: value$i}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: app$i}
spec:
  selector: {matchLabels: {app: app$i}}
  template:
    metadata: {labels: {app: app$i}}
    spec:
      containers:
      - name: c
        image: nginx:1.25
        envFrom: [{configMapRef: {name: conf$i}}]
YAML
done
printf 'resources: [../base]\nnamePrefix: mid-\ncommonAnnotations: {team: a}\n' >"$WORK/big/mid/kustomization.yaml"
printf 'resources: [../mid]\nnamespace: bench\nnameSuffix: -v1\nimages: [{name: nginx, newTag: "1.27"}]\n' >"$WORK/big/top/kustomization.yaml"

median_ms() {  # median_ms command...: median wall time of RUNS runs, in ms
  local times=()
  for _ in $(seq 1 "$RUNS"); do
    local s e
    s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N)
    times+=($(((e - s) / 1000)))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {m=a[int((NR+1)/2)]; printf "%.1f", m/1000}'
}

cmp <("$SKIFF" kustomize build "$WORK/big/top") <(kubectl kustomize "$WORK/big/top" 2>/dev/null) >/dev/null \
  && echo "generated overlay: identical output" || echo "generated overlay: OUTPUT DIFFERS"
for c in "3-level overlay:$ROOT/tests/fixtures/kustomize/overlay3/top" "500 resources:$WORK/big/top"; do
  name=${c%%:*} dir=${c#*:}
  echo "$name  skiff $(median_ms "$SKIFF" kustomize build "$dir") ms   kubectl $(median_ms kubectl kustomize "$dir") ms   (median of $RUNS)"
done
