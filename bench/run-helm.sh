#!/usr/bin/env bash
# Helm render time (issue 22): `skiff helm template` of a generated chart with N templates (each a
# Deployment using include/nindent/toYaml/range over values, plus a _helpers.tpl), and the same
# chart at 4x the values size. Wall time per render in ms, medians of RUNS.
# Usage: bench/run-helm.sh [BUILD_DIR]   (env: RUNS=9 N=50)
set -euo pipefail
BENCH_NAME=helm
source "$(dirname "$0")/lib.sh"
BUILD=$(readlink -f "${1:-build}")
SKIFF=$BUILD/skiff
RUNS=${RUNS:-9}; N=${N:-50}
echo "# skiff helm template benchmarks, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

make_chart() {  # make_chart DIR TEMPLATES ENV_ENTRIES
  local dir=$1 n=$2 envs=$3
  mkdir -p "$dir/templates"
  printf 'apiVersion: v2\nname: bench\nversion: 0.1.0\nappVersion: "1.0"\n' >"$dir/Chart.yaml"
  python3 - "$dir" "$n" "$envs" <<'PY'
import sys
d, n, envs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(f"{d}/values.yaml", "w") as f:
    f.write("image: {repository: nginx, tag: '1.25'}\nresources: {limits: {cpu: 500m, memory: 128Mi}, requests: {cpu: 100m, memory: 64Mi}}\nenv:\n")
    for i in range(envs):
        f.write(f"  VAR_{i}: value-{i}\n")
with open(f"{d}/templates/_helpers.tpl", "w") as f:
    f.write('{{- define "bench.labels" -}}\napp.kubernetes.io/name: {{ .Chart.Name }}\napp.kubernetes.io/instance: {{ .Release.Name }}\n{{- end -}}\n')
for i in range(n):
    with open(f"{d}/templates/deploy-{i}.yaml", "w") as f:
        f.write(f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{{{ .Release.Name }}}}-{i}
  labels:
    {{{{- include "bench.labels" . | nindent 4 }}}}
spec:
  replicas: {{{{ add 1 {i % 3} }}}}
  template:
    spec:
      containers:
        - name: app
          image: "{{{{ .Values.image.repository }}}}:{{{{ .Values.image.tag | default .Chart.AppVersion }}}}"
          env:
          {{{{- range $k, $v := .Values.env }}}}
            - name: {{{{ $k }}}}
              value: {{{{ $v | quote }}}}
          {{{{- end }}}}
          resources:
            {{{{- toYaml .Values.resources | nindent 12 }}}}
""")
PY
}

measure() {  # measure NAME DIR: prints the median ms of RUNS renders and the output size
  local name=$1 dir=$2 times=() i start end bytes
  bytes=$("$SKIFF" helm template r "$dir" | wc -c)
  for ((i = 0; i < RUNS; i++)); do
    start=$(date +%s%N)
    "$SKIFF" helm template r "$dir" >/dev/null
    end=$(date +%s%N)
    times+=($(( (end - start) / 1000 )))
  done
  printf '%-34s templates=%-4s chart=%6s bytes  output=%7s bytes  median %s ms\n' "$name" "$(ls "$dir/templates" | wc -l)" \
    "$(cat "$dir"/Chart.yaml "$dir"/values.yaml "$dir"/templates/* | wc -c)" "$bytes" \
    "$(printf '%s\n' "${times[@]}" | sort -n | awk -v n="${#times[@]}" 'NR == int((n + 1) / 2) { printf "%.1f", $1 / 1000 }')"
}

make_chart "$W/small" "$N" 10
make_chart "$W/large" "$N" 40
measure "$N templates, 10 env entries each" "$W/small"
measure "$N templates, 40 env entries each" "$W/large"
# The process start alone, to read the figures above as start + render.
times=()
for ((i = 0; i < RUNS; i++)); do
  start=$(date +%s%N); "$SKIFF" version --client >/dev/null; end=$(date +%s%N)
  times+=($(( (end - start) / 1000 )))
done
printf '%-34s median %s ms\n' "skiff start (version --client)" \
  "$(printf '%s\n' "${times[@]}" | sort -n | awk -v n="${#times[@]}" 'NR == int((n + 1) / 2) { printf "%.1f", $1 / 1000 }')"
