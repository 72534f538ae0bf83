#!/usr/bin/env bash
# The node agent with the process runtime: pods really run on this machine. Init containers,
# probes, restarts with back-off, logs, graceful deletion, env from ConfigMaps and Secrets,
# Deployments end to end, and nothing left running after skiff stops.
source "$(dirname "$0")/lib.sh"
export SKIFF_RESTART_BACKOFF_MS=300
export SKIFF_LOG_MAX_BYTES=65536
start_skiff
phase() { [ "$("$SKIFF" get pod "$1" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin).get("status",{}).get("phase",""))')" = "$2" ]; }
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

out=$("$SKIFF" get nodes)
check "this machine registered as a Ready node" contains "$out" " Ready "
"$SKIFF" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {GREETING: hello-from-configmap}
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {TOKEN: s3cret}
---
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  terminationGracePeriodSeconds: 5
  initContainers:
  - {name: setup, image: busybox, command: ["sh", "-c", "echo init ran"]}
  containers:
  - name: server
    image: python:3.12-alpine
    command: ["python3", "-m", "http.server", "--bind", "127.0.0.1", "$PORT"]
    ports: [{name: http, containerPort: $PORT}]
    readinessProbe: {httpGet: {path: /, port: http}, periodSeconds: 1}
    livenessProbe: {tcpSocket: {port: http}, periodSeconds: 1}
  - name: env
    image: busybox
    command: ["sh", "-c", "echo \$GREETING \$TOKEN \$POD_NAME \$MY_NODE; trap 'echo got SIGTERM; exit 0' TERM; while true; do sleep 0.1; done"]
    envFrom: [{configMapRef: {name: settings}}]
    env:
    - {name: TOKEN, valueFrom: {secretKeyRef: {name: creds, key: TOKEN}}}
    - {name: MY_NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
YAML
ready() { "$SKIFF" get pod web | grep -q "2/2.*Running"; }
check "pod with init container and probes becomes 2/2 Running" wait_for ready 20 ready
check "the server really answers" curl -sf "http://127.0.0.1:$PORT/"
out=$("$SKIFF" logs web -c env)
check "env from ConfigMap, Secret and fieldRef" contains "$out" "hello-from-configmap s3cret web"
out=$(kubectl logs web -c setup)
check "kubectl logs of the init container" contains "$out" "init ran"
out=$("$SKIFF" logs web 2>&1 || true)
check "logs without -c on a multi-container pod asks which" contains "$out" "a container name must be specified"
out=$(echo typed | "$SKIFF" exec -i web -c env -- sh -c 'cat; echo err >&2; exit 3' 2>&1) && rc=0 || rc=$?
check "skiff exec -i passes stdin, stdout, stderr and the exit code" bash -c "[ $rc = 3 ] && grep -q typed <<<'$out' && grep -q err <<<'$out'"
out=$(kubectl exec web -c env -- sh -c 'echo via-kubectl; exit 5' 2>&1) && rc=0 || rc=$?
check "kubectl exec over WebSocket with the exit code" bash -c "[ $rc = 5 ] && grep -q via-kubectl <<<'$out'"

# Restarts with back-off, previous logs, CrashLoopBackOff in the status.
"$SKIFF" apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: crasher}
spec:
  containers: [{name: c, image: busybox, command: ["sh", "-c", "echo attempt; exit 3"]}]
YAML
restarted() { [ "$(kubectl get pod crasher -o jsonpath='{.status.containerStatuses[0].restartCount}')" -ge 2 ]; }
check "failing container restarts" wait_for restarts 20 restarted
out=$(kubectl get pod crasher -o jsonpath='{.status.containerStatuses[0].lastState.terminated.exitCode}')
check "lastState records exit code 3" test "$out" = 3
crashloop() { "$SKIFF" get pods | grep -q "crasher.*CrashLoopBackOff"; }
check "CrashLoopBackOff shown" wait_for crashloop 20 crashloop
out=$("$SKIFF" logs crasher --previous)
check "logs --previous" contains "$out" "attempt"

# restartPolicy Never: Succeeded / Failed and no restarts.
"$SKIFF" apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: once}
spec:
  restartPolicy: Never
  containers: [{name: c, image: busybox, command: ["sh", "-c", "echo done"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: fails}
spec:
  restartPolicy: Never
  containers: [{name: c, image: busybox, command: ["no-such-binary-here"]}]
YAML
check "restartPolicy Never, exit 0: Succeeded" wait_for succeeded 20 phase once Succeeded
failed_reason() { kubectl get pod fails -o jsonpath='{.status.containerStatuses[0].state.waiting.message}' | grep -q "no-such-binary-here"; }
check "missing binary: clear reason on the pod" wait_for reason 20 failed_reason

# Liveness failure restarts the container.
"$SKIFF" apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: unhealthy}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "while true; do sleep 0.1; done"]
    livenessProbe: {exec: {command: ["false"]}, periodSeconds: 1, failureThreshold: 1}
YAML
live_restarted() { [ "$(kubectl get pod unhealthy -o jsonpath='{.status.containerStatuses[0].restartCount}')" -ge 1 ]; }
check "liveness failure restarts the container" wait_for liveness 20 live_restarted

# A Deployment really runs: replicas get their own ports through \$PORT.
"$SKIFF" apply -f "$(dirname "$0")/../../examples/hello/namespace.yaml" >/dev/null
"$SKIFF" apply -f "$(dirname "$0")/../../examples/hello/app.yaml" >/dev/null
deploy_ready() { [ "$(kubectl get deploy web -n hello -o jsonpath='{.status.readyReplicas}')" = "2" ]; }
check "example Deployment: 2 replicas really running and ready" wait_for deploy 60 deploy_ready
deploy_ready || { "$SKIFF" get pods -n hello -o wide; for p in $("$SKIFF" get pods -n hello -o name); do "$SKIFF" logs -n hello "${p#pod/}" | tail -5; done; }

# Resource limits through cgroups: memory over the limit is OOMKilled, CPU is capped and visible in top.
if [ "$(id -u)" = 0 ] && [ -d /sys/fs/cgroup/memory ] || [ -f /sys/fs/cgroup/unified/cgroup.controllers ]; then
"$SKIFF" apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: hog}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: python:3.12-alpine
    command: ["python3", "-c", "x = bytearray(256*1024*1024); import time; time.sleep(30)"]
    resources: {limits: {memory: 64Mi}}
---
apiVersion: v1
kind: Pod
metadata: {name: spin}
spec:
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "while true; do :; done"]
    resources: {limits: {cpu: 200m, memory: 32Mi}}
YAML
oom() { [ "$(kubectl get pod hog -o jsonpath='{.status.containerStatuses[0].state.terminated.reason}')" = OOMKilled ]; }
check "memory limit: OOMKilled" wait_for oom 20 oom
spin_top() { "$SKIFF" top pods | awk '$1=="spin"{print $2}' | grep -qE '^(1[0-9][0-9]|2[0-4][0-9])m$'; }
check "cpu limit: top shows about 200m" wait_for top 20 spin_top
out=$(kubectl top pod spin 2>&1)
check "kubectl top pod" contains "$out" "spin"
out=$(curl -s --cacert "$CA" -H "Authorization: Bearer $TOKEN" "$SERVER/metrics/cadvisor")
check "cadvisor metrics" contains "$out" 'container_cpu_usage_seconds_total{namespace="default",pod="spin",container="c"'
"$SKIFF" delete pod spin hog --now >/dev/null
fi

# Logs rotate by size: a chatty container's current log stays bounded.
"$SKIFF" apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: chatty}
spec:
  containers: [{name: c, image: busybox, command: ["sh", "-c", "while true; do echo 0123456789012345678901234567890123456789012345678901234567890123; done"]}]
YAML
rotated() { ls "$WORK"/data/pods/default_chatty_*/c/0.log.1 >/dev/null 2>&1; }
check "log rotated past the size limit" wait_for rotated 20 rotated
size=$(stat -c %s "$WORK"/data/pods/default_chatty_*/c/0.log)
check "current log stays bounded" test "$size" -lt 33554432
"$SKIFF" delete pod chatty --now >/dev/null

# Events say what happened and why.
out=$("$SKIFF" events)
check "scheduler event" contains "$out" "Scheduled.*pod/web.*Successfully assigned default/web to"
check "kubelet events" contains "$out" "Started.*pod/web.*Started container server"
check "back-off warning" contains "$out" "Warning.*BackOff.*pod/crasher"
check "liveness warning" contains "$out" "Unhealthy.*pod/unhealthy.*Liveness probe failed"
out=$("$SKIFF" events -n hello)
check "deployment and replicaset events" contains "$out" "ScalingReplicaSet.*deployment/web.*Scaled up replica set web-"
check "replicaset created pods" contains "$out" "SuccessfulCreate.*replicaset/web-.*Created pod: web-"
out=$("$SKIFF" describe pod crasher)
check "describe shows the pod's events" contains "$out" "BackOff"

# Services: a cluster IP from the service range, endpoints from Ready pods, IPs claimed once.
ip=$(kubectl get svc web -n hello -o jsonpath='{.spec.clusterIP}')
check "service got a cluster IP in 127.19.0.0/16" contains "$ip" "^127\.19\."
eps() { [ "$(kubectl get endpoints web -n hello -o jsonpath='{.subsets[0].addresses[*].ip}' | wc -w)" = 2 ]; }
check "endpoints list the 2 ready pods" wait_for eps 20 eps
out=$(kubectl get endpointslices -n hello -l kubernetes.io/service-name=web -o jsonpath='{.items[0].endpoints[*].conditions.ready}')
check "endpointslice conditions" contains "$out" "true true"
out=$(printf 'apiVersion: v1\nkind: Service\nmetadata: {name: dup, namespace: hello}\nspec:\n  clusterIP: %s\n  ports: [{port: 80}]\n' "$ip" | "$SKIFF" apply -f - 2>&1 || true)
check "a taken cluster IP is refused" contains "$out" "provided IP is already allocated"
"$SKIFF" delete svc web -n hello >/dev/null
out=$(printf 'apiVersion: v1\nkind: Service\nmetadata: {name: reuse, namespace: hello}\nspec:\n  clusterIP: %s\n  ports: [{port: 80}]\n' "$ip" | "$SKIFF" apply -f - 2>&1)
check "a deleted service's IP can be claimed again" contains "$out" "service/reuse created"
gone_eps() { ! kubectl get endpoints web -n hello >/dev/null 2>&1; }
check "endpoints go with their service" wait_for gone_eps 10 gone_eps

# Graceful deletion: SIGTERM reaches the container, then the pod goes away.
"$SKIFF" delete pod web --timeout 20 >/dev/null
check "graceful delete removed the pod" wait_for gone 20 sh -c "! '$SKIFF' get pod web >/dev/null 2>&1"
check "the server process is gone" sh -c "! curl -sf http://127.0.0.1:$PORT/"
# Every container process this skiff started must be gone after it stops.
pids=$(kubectl get pods -A -o jsonpath='{range .items[*]}{range .status.containerStatuses[*]}{.containerID}{"\n"}{end}{end}' | sed -n 's|^process://||p')
check "there were running containers to check" test -n "$pids"
stop_skiff TERM
sleep 0.5
left=""
for p in $pids; do kill -0 "$p" 2>/dev/null && left="$left $p"; done
check "no container processes left after skiff stops" test -z "$left"
finish
