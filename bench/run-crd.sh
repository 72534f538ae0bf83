#!/usr/bin/env bash
# Custom resources (issue 20), peers in the same run on one `skiff server`:
#  1. durable creates/s of a custom kind whose schema is ~200 lines (40 checked fields: patterns,
#     enums, bounds, formats, set lists) vs ConfigMaps of the same body size — the cost of
#     structural-schema pruning, defaulting and validation;
#  2. resident memory added by 10,000 objects of each.
# Medians of RUNS. Usage: bench/run-crd.sh [BUILD_DIR]   (env: RUNS=3 N=3000 CONC=16 SIZE=1024 MEM_N=10000)
set -euo pipefail
BENCH_NAME=crd
source "$(dirname "$0")/lib.sh"
BUILD=$(readlink -f "${1:-build}")
SKIFF=$BUILD/skiff
BENCH=$BUILD/bench/skiff_bench
RUNS=${RUNS:-3}; N=${N:-3000}; CONC=${CONC:-16}; SIZE=${SIZE:-1024}; MEM_N=${MEM_N:-10000}
need_commands "apt-get install python3" python3
echo "# skiff custom-resource benchmarks, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

# The Widget definition: 10 groups of 4 checked fields, plus owner, created and note.
python3 - >"$W/widget-crd.yaml" <<'PY'
lines = ["apiVersion: apiextensions.k8s.io/v1", "kind: CustomResourceDefinition", "metadata:", "  name: widgets.bench.skiff.dev",
         "spec:", "  group: bench.skiff.dev", "  scope: Namespaced", "  names: {plural: widgets, singular: widget, kind: Widget}",
         "  versions:", "  - name: v1", "    served: true", "    storage: true", "    schema:", "      openAPIV3Schema:",
         "        type: object", "        properties:", "          spec:", "            type: object", "            required: [name00, owner]",
         "            properties:"]
for f in range(10):
    lines += [f"              name{f:02d}:", "                type: string", "                pattern: '^[a-z0-9-]+$'", "                maxLength: 63",
              f"              count{f:02d}:", "                type: integer", "                minimum: 0", "                maximum: 1000",
              f"              mode{f:02d}:", "                type: string", "                enum: [fast, safe]", "                default: safe",
              f"              tags{f:02d}:", "                type: array", "                maxItems: 8", "                x-kubernetes-list-type: set",
              "                items: {type: string, maxLength: 32}"]
lines += ["              owner: {type: string, format: email}", "              created: {type: string, format: date-time}",
          "              note: {type: string, maxLength: 1000000}"]
print("\n".join(lines))
PY
echo "## the definition's schema: $(wc -l <"$W/widget-crd.yaml") lines"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
rss_kib() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
start_server() {  # start_server DIR: sets SERVER_PID
  "$SKIFF" server --data-dir "$1" --listen 127.0.0.1:0 --no-controllers >"$1.log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  for _ in $(seq 1 200); do grep -q "skiff server is up" "$1.log" 2>/dev/null && break; sleep 0.05; done
  KUBECONFIG=$1/kubeconfig kubectl apply -f "$W/widget-crd.yaml" >/dev/null
  KUBECONFIG=$1/kubeconfig kubectl wait --for=condition=Established crd/widgets.bench.skiff.dev --timeout=20s >/dev/null
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

declare -A RATE P99
record() { echo "$2"; RATE[$1]+="$(field "$2" per_second) "; P99[$1]+="$(field "$2" p99_ms) "; }
CM_SIZE=$((SIZE - 75))  # a ConfigMap body of about SIZE bytes
echo "## durable creates: $N objects of ~$SIZE B bodies, $CONC clients"
for run in $(seq 1 "$RUNS"); do
  start_server "$W/s$run"
  record configmap "$("$BENCH" creates --kubeconfig "$W/s$run/kubeconfig" --n "$N" --conc "$CONC" --size "$CM_SIZE" --prefix c)"
  record widget "$("$BENCH" custom-creates --kubeconfig "$W/s$run/kubeconfig" --n "$N" --conc "$CONC" --size "$SIZE" --prefix w)"
  stop "$SERVER_PID"
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for k in configmap widget; do
  echo "$k creates/s median $(median <<<"${RATE[$k]}") (runs: ${RATE[$k]})  p99 median $(median <<<"${P99[$k]}") ms"
done

echo "## resident memory added by $MEM_N objects (~$SIZE B bodies), one server each"
for kind in configmap widget; do
  start_server "$W/m-$kind"
  before=$(rss_kib "$SERVER_PID")
  mode=$([ "$kind" = widget ] && echo custom-creates || echo creates)
  size=$([ "$kind" = widget ] && echo "$SIZE" || echo "$CM_SIZE")
  "$BENCH" "$mode" --kubeconfig "$W/m-$kind/kubeconfig" --n "$MEM_N" --conc "$CONC" --size "$size" --prefix m >/dev/null
  after=$(rss_kib "$SERVER_PID")
  echo "$kind: RSS ${before} KiB -> ${after} KiB: +$(( (after - before) / 1024 )) MiB for $MEM_N"
  stop "$SERVER_PID"
done
