#!/usr/bin/env bash
# Kill -9 the server in the middle of a stream of writes; after restart every acknowledged write
# must be there, and the store must keep working.
source "$(dirname "$0")/lib.sh"
BENCH=$(dirname "$SKIFF")/bench/skiff_bench
[ -x "$BENCH" ] || { echo "skiff_bench not built"; exit 1; }
start_skiff

for round in 1 2 3; do
  : >"$WORK/acks.$round"
  "$BENCH" creates --kubeconfig "$KUBECONFIG" --n 200000 --conc 8 --size 512 --prefix "r$round" \
    --acks "$WORK/acks.$round" >"$WORK/load.$round" 2>&1 &
  LOAD=$!
  # Let writes flow, then kill without warning.
  for _ in $(seq 1 100); do [ "$(wc -l <"$WORK/acks.$round")" -gt 300 ] && break; sleep 0.02; done
  sleep 0.$((RANDOM % 5))
  kill -9 "$SKIFF_PID"
  wait "$SKIFF_PID" 2>/dev/null || true
  SKIFF_PID=
  wait $LOAD 2>/dev/null || true
  acked=$(sort -u "$WORK/acks.$round" | wc -l)
  start_skiff
  "$SKIFF" get cm -o name | sed 's|configmap/||' | sort -u >"$WORK/stored.$round"
  missing=$(comm -23 <(sort -u "$WORK/acks.$round") "$WORK/stored.$round" | wc -l)
  check "round $round: $acked acknowledged writes, all survive kill -9" test "$missing" -eq 0
  check "round $round: some writes were acknowledged" test "$acked" -gt 100
done
out=$("$SKIFF" apply -f - <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata: {name: after-crash}
data: {ok: "yes"}
YAML
)
check "store writable after crashes" contains "$out" "configmap/after-crash created"
finish
