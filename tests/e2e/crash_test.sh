#!/usr/bin/env bash
# Kill -9 the server in the middle of a stream of writes, with a pod running; after restart on the
# same port every acknowledged write must be there, the pod must not have held any of skiff's fds
# (it would keep the API port, and skiff could not come back), and the store must keep working.
source "$(dirname "$0")/lib.sh"
BENCH=$(dirname "$SKIFF")/bench/skiff_bench
[ -x "$BENCH" ] || { echo "skiff_bench not built"; exit 1; }
PORT=$(free_port)
POD_PID=
trap 'if [ -n "$POD_PID" ]; then kill -9 "$POD_PID" 2>/dev/null || true; fi; cleanup' EXIT
start_skiff --listen "127.0.0.1:$PORT"
"$SKIFF" apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: bystander}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: busybox, command: [sleep, "600"]}]
YAML
for _ in $(seq 1 100); do
  POD_PID=$("$SKIFF" get pod bystander -o json 2>/dev/null | python3 -c 'import json,sys; print(((json.load(sys.stdin)["status"].get("containerStatuses") or [{}])[0].get("containerID") or "").split("//")[-1])' || true)
  [ -n "$POD_PID" ] && break
  sleep 0.1
done
check "the pod runs" test -n "$POD_PID"
check "the pod holds only its stdio, none of skiff's fds" test "$(ls /proc/"$POD_PID"/fd | sort -n | tr '\n' ' ')" = "0 1 2 "

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
  start_skiff --listen "127.0.0.1:$PORT"
  check "round $round: skiff is back on port $PORT with the pod still running" bash -c "[[ '$SERVER' == *:$PORT ]] && kill -0 $POD_PID"
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
"$SKIFF" delete pod bystander >/dev/null
check "the adopted pod is stopped on delete" wait_for "pod gone" 30 bash -c "! kill -0 $POD_PID 2>/dev/null"
finish
