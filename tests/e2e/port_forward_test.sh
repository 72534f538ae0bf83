#!/usr/bin/env bash
# kubectl port-forward as users run it (kubectl 1.32: SPDY tunnelled in a WebSocket through the
# API server to the node server, which connects to the port inside the pod): pods, Services and
# Deployments, many connections at once, a large transfer byte for byte, and a port nothing
# listens on reported by kubectl instead of a hang.
source "$(dirname "$0")/lib.sh"
PFS=()
stop_forwards() { for p in "${PFS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done; PFS=(); }
trap 'stop_forwards; cleanup' EXIT
start_skiff --runtime process
kubectl apply -f - >/dev/null <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: busybox
        # The process runtime shares the host's network: the pod serves on the port it is given.
        command: [sh, -c, 'cd "$(mktemp -d)" && echo hello-through-port-forward > index.html && head -c 5000000 /dev/urandom > big && exec python3 -m http.server "$PORT_HTTP" --bind 127.0.0.1']
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {tcpSocket: {port: http}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
YAML
ready() { [ "$(kubectl get deploy web -o jsonpath='{.status.readyReplicas}')" = 1 ]; }
check "the web pod is ready" wait_for ready 30 ready
POD=$(kubectl get pods -l app=web -o jsonpath='{.items[0].metadata.name}')

forward() {  # forward TARGET LOCAL:REMOTE: starts kubectl port-forward and waits for it to listen
  kubectl port-forward "$1" "$2" >"$WORK/pf-${#PFS[@]}.log" 2>&1 &
  PFS+=($!)
  wait_for "port-forward $1" 10 grep -q "Forwarding from 127.0.0.1" "$WORK/pf-$((${#PFS[@]} - 1)).log"
}
LP=$(free_port)
check "kubectl port-forward pod/NAME listens" forward "pod/$POD" "$LP:8080"
check "a request goes through to the pod" contains "$(curl -s --max-time 5 "http://127.0.0.1:$LP/index.html")" hello-through-port-forward
many() {
  local pids=() i ok=0
  for i in $(seq 1 20); do curl -s --max-time 10 -o "$WORK/many.$i" "http://127.0.0.1:$LP/index.html" & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p" || true; done
  for i in $(seq 1 20); do grep -q hello-through-port-forward "$WORK/many.$i" && ok=$((ok + 1)); done
  [ "$ok" = 20 ] || { echo "$ok of 20 answered"; return 1; }
}
check "20 connections at once all get their answer" many
for i in 1 2 3 4 5; do curl -s --max-time 5 "http://127.0.0.1:$LP/index.html" >/dev/null; done
check "… and so do connections one after another" contains "$(curl -s --max-time 5 "http://127.0.0.1:$LP/index.html")" hello-through-port-forward
curl -s --max-time 30 -o "$WORK/big.copy" "http://127.0.0.1:$LP/big"
check "5 MB arrive byte for byte" test "$(stat -c %s "$WORK/big.copy")" = 5000000

SP=$(free_port)
check "kubectl port-forward svc/NAME (the Service's target port)" forward svc/web "$SP:80"
check "… reaches the pod" contains "$(curl -s --max-time 5 "http://127.0.0.1:$SP/index.html")" hello-through-port-forward
DP=$(free_port)
check "kubectl port-forward deploy/NAME" forward deploy/web "$DP:8080"
check "… reaches the pod" contains "$(curl -s --max-time 5 "http://127.0.0.1:$DP/index.html")" hello-through-port-forward

# A port nothing listens on: kubectl reports the node's reason for that connection.
NP=$(free_port)
forward "pod/$POD" "$NP:1" >/dev/null
curl -s --max-time 5 "http://127.0.0.1:$NP/" >/dev/null || true
sleep 1
check "a closed port is reported by kubectl" contains "$(cat "$WORK"/pf-*.log)" "error forwarding port 1 to pod $POD"
check "… with the connection's error" contains "$(cat "$WORK"/pf-*.log)" "connection refused"
stop_forwards
finish
