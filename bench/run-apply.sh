#!/usr/bin/env bash
# Server-side vs client-side apply of one manifest set with kubectl (issue 20): N ConfigMaps and
# N/10 Deployments in one file, applied to a fresh `skiff server`, then applied again unchanged.
# Each mode gets its own server, in the same run; medians of RUNS.
# Usage: bench/run-apply.sh [BUILD_DIR]   (env: RUNS=3 N=1000)
set -euo pipefail
BENCH_NAME=apply
source "$(dirname "$0")/lib.sh"
BUILD=$(readlink -f "${1:-build}")
SKIFF=$BUILD/skiff
RUNS=${RUNS:-3}; N=${N:-1000}
need_commands "kubectl (ships with the machine image)" kubectl
echo "# skiff apply benchmarks, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(kubectl version --client -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])')"
python3 - "$N" >"$W/set.yaml" <<'PY'
import sys
n = int(sys.argv[1])
docs = []
for i in range(n):
    docs.append(f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{i}, labels: {{app: bench, part: p{i % 10}}}}}\ndata: {{key: value-{i}, other: '{'x' * 64}'}}")
for i in range(n // 10):
    docs.append(f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: d-{i}, labels: {{app: bench}}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: d-{i}}}}}
  template:
    metadata: {{labels: {{app: d-{i}}}}}
    spec:
      containers:
      - name: app
        image: registry.local/app:{i}
        ports: [{{containerPort: 8080}}]
        env: [{{name: A, value: "1"}}, {{name: B, value: "2"}}]""")
print("\n---\n".join(docs))
PY
echo "## the set: $N ConfigMaps and $((N / 10)) Deployments, $(wc -c <"$W/set.yaml") bytes"
start_server() {
  "$SKIFF" server --data-dir "$1" --listen 127.0.0.1:0 --no-controllers >"$1.log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  for _ in $(seq 1 200); do grep -q "skiff server is up" "$1.log" 2>/dev/null && break; sleep 0.05; done
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
secs() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l | xargs printf '%.2f'; }
declare -A T
for run in $(seq 1 "$RUNS"); do
  for mode in client server; do
    start_server "$W/$mode$run"
    flags=(); [ "$mode" = server ] && flags=(--server-side)
    export KUBECONFIG="$W/$mode$run/kubeconfig"
    first=$(secs kubectl apply "${flags[@]}" -f "$W/set.yaml")
    again=$(secs kubectl apply "${flags[@]}" -f "$W/set.yaml")
    echo "run $run $mode-side: first apply ${first} s, unchanged re-apply ${again} s"
    T[$mode-first]+="$first "; T[$mode-again]+="$again "
    stop "$SERVER_PID"
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for k in client-first server-first client-again server-again; do echo "$k median $(median <<<"${T[$k]}") s (runs: ${T[$k]})"; done
