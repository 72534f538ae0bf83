#!/usr/bin/env bash
# Runs skiff's foundation benchmarks, with etcd 3.4 as the peer in the same run.
# Usage: bench/run-all.sh [BUILD_DIR]   (env: N=20000 CONC=16 SIZE=512 PODS=100000 WATCHERS=100 RATE=1000 SECONDS_=10)
# Every load is bounded by count or time; processes started here are stopped by PID.
set -euo pipefail
BUILD=$(readlink -f "${1:-build}")
SKIFF=$BUILD/skiff
BENCH=$BUILD/bench/skiff_bench
N=${N:-20000}; CONC=${CONC:-16}; SIZE=${SIZE:-512}; PODS=${PODS:-100000}
WATCHERS=${WATCHERS:-100}; RATE=${RATE:-1000}; SECS=${SECONDS_:-10}
W=$(mktemp -d -t skiff-bench.XXXXXX)
SKIFF_PID= ETCD_PID=
cleanup() {
  [ -n "$SKIFF_PID" ] && kill "$SKIFF_PID" 2>/dev/null && wait "$SKIFF_PID" 2>/dev/null
  [ -n "$ETCD_PID" ] && kill "$ETCD_PID" 2>/dev/null && wait "$ETCD_PID" 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT
rss_mib() { awk '/^VmRSS:/{printf "%.1f", $2/1024}' /proc/"$1"/status; }

echo "# skiff foundation benchmarks, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

echo "## startup (exec to /healthz over TLS)"
"$BENCH" startup --binary "$SKIFF" --data-dir "$W/startup" --runs 20

start_skiff() {  # start_skiff [extra args]
  "$SKIFF" up --data-dir "$W/data" --listen 127.0.0.1:16998 "$@" >"$W/up.log" 2>&1 &
  SKIFF_PID=$!
  for _ in $(seq 1 200); do grep -q "skiff is up" "$W/up.log" 2>/dev/null && break; sleep 0.05; done
}
start_skiff
sleep 1
echo "## idle resident memory (whole platform: API, store, controllers, scheduler, agent)"
echo "{\"mode\":\"idle-rss\",\"rss_mib\":$(rss_mib $SKIFF_PID)}"
# The store and API figures below run the API server and store alone (`--no-controllers`), the
# counterpart of kube-apiserver + etcd; the last figure repeats the pod load on the whole platform.
kill "$SKIFF_PID"; wait "$SKIFF_PID" 2>/dev/null || true
rm -rf "$W/data"
start_skiff --no-controllers

echo "## durable creates over HTTPS ($N objects, $CONC clients) vs etcd puts of the same size"
"$BENCH" creates --kubeconfig "$W/data/kubeconfig" --n "$N" --conc "$CONC" --size "$SIZE" --prefix c | tee "$W/skiff-creates.json"
# The stored ConfigMap is the data plus ~330 bytes of metadata: give etcd values of that size.
STORED=$(( SIZE + 330 ))
command -v etcd >/dev/null || { echo "etcd not installed: scripts/install-deps.sh installs etcd-server"; exit 1; }
etcd --name bench --data-dir "$W/etcd" --listen-client-urls http://127.0.0.1:12379 --advertise-client-urls http://127.0.0.1:12379 \
  --listen-peer-urls http://127.0.0.1:12380 --initial-advertise-peer-urls http://127.0.0.1:12380 \
  --initial-cluster bench=http://127.0.0.1:12380 --initial-cluster-state new --logger zap --log-outputs stderr >"$W/etcd.log" 2>&1 &
ETCD_PID=$!
for _ in $(seq 1 100); do curl -s -m 1 http://127.0.0.1:12379/health 2>/dev/null | grep -q true && break; sleep 0.1; done
"$BENCH" etcd-puts --endpoint http://127.0.0.1:12379 --n "$N" --conc "$CONC" --size "$STORED" | tee "$W/etcd-puts.json"
kill "$ETCD_PID"; wait "$ETCD_PID" 2>/dev/null || true; ETCD_PID=
python3 - "$W/skiff-creates.json" "$W/etcd-puts.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); e = json.load(open(sys.argv[2]))
print(json.dumps({"mode": "creates-vs-etcd", "skiff_per_second": s["per_second"], "etcd_per_second": e["per_second"],
                  "ratio": round(s["per_second"] / e["per_second"], 2)}))
PY
echo "## sequential creates (1 client) vs etcd"
"$BENCH" creates --kubeconfig "$W/data/kubeconfig" --n 2000 --conc 1 --size "$SIZE" --prefix s
etcd --name bench --data-dir "$W/etcd2" --listen-client-urls http://127.0.0.1:12379 --advertise-client-urls http://127.0.0.1:12379 \
  --listen-peer-urls http://127.0.0.1:12380 --initial-advertise-peer-urls http://127.0.0.1:12380 \
  --initial-cluster bench=http://127.0.0.1:12380 --initial-cluster-state new --logger zap --log-outputs stderr >"$W/etcd.log" 2>&1 &
ETCD_PID=$!
for _ in $(seq 1 100); do curl -s -m 1 http://127.0.0.1:12379/health 2>/dev/null | grep -q true && break; sleep 0.1; done
"$BENCH" etcd-puts --endpoint http://127.0.0.1:12379 --n 2000 --conc 1 --size "$STORED"
kill "$ETCD_PID"; wait "$ETCD_PID" 2>/dev/null || true; ETCD_PID=

echo "## watch delivery latency ($WATCHERS watchers, $RATE writes/s, ${SECS}s)"
"$BENCH" watch-latency --kubeconfig "$W/data/kubeconfig" --watchers "$WATCHERS" --rate "$RATE" --seconds "$SECS"

echo "## $PODS pods of ~1.5 KB: resident memory and full list time"
kill "$SKIFF_PID"; wait "$SKIFF_PID" 2>/dev/null || true
for mode in --no-controllers --no-agent; do
  rm -rf "$W/data"
  start_skiff $mode
  echo "# skiff up $mode"
  # The pods are bound to bench-node, which no agent runs: the Node must exist, or the pod garbage
  # collector rightly deletes them as orphans.
  kubectl --kubeconfig "$W/data/kubeconfig" create -f - >/dev/null <<<'{"apiVersion":"v1","kind":"Node","metadata":{"name":"bench-node"}}'
  "$BENCH" pods --kubeconfig "$W/data/kubeconfig" --n "$PODS" --conc "$CONC" --prefix p
  sleep 2
  RSS=$(rss_mib $SKIFF_PID)
  LIST=$("$BENCH" list --kubeconfig "$W/data/kubeconfig" --path /api/v1/pods --repeat 3)
  echo "$LIST"
  BYTES=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["bytes"])' "$LIST")
  python3 -c 'import sys; rss=float(sys.argv[1]); b=int(sys.argv[2]); print("{\"mode\":\"pods-memory\",\"rss_mib\":%.1f,\"raw_json_mib\":%.1f,\"rss_over_raw\":%.2f}" % (rss, b/1048576, rss*1048576/b))' "$RSS" "$BYTES"
  echo "{\"mode\":\"rss-after-list\",\"rss_mib\":$(rss_mib $SKIFF_PID)}"
  kill "$SKIFF_PID"; wait "$SKIFF_PID" 2>/dev/null || true; SKIFF_PID=
done
