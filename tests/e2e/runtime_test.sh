#!/usr/bin/env bash
# The native and oci runtimes end to end: images built with umoci from busybox-static, pushed with
# skopeo to a real docker-registry on loopback, pulled by skiff, run isolated in their own
# namespaces with a pod network; volumes, probes, OOM kills, pull failures, image commands, and
# nothing left behind (mounts, veths, namespaces, bridge) after pods and skiff are gone.
source "$(dirname "$0")/lib.sh"
if [ "$(id -u)" != 0 ] || ! command -v docker-registry >/dev/null || ! command -v umoci >/dev/null || ! command -v skopeo >/dev/null; then
  echo "skipped: needs root, docker-registry, umoci and skopeo (scripts/install-deps.sh installs them)"
  exit 0
fi
export SKIFF_RESTART_BACKOFF_MS=300
BRIDGE=skt$$
CIDR=10.213.0.0/24
REG_PID=
cleanup_runtime() {
  if [ -n "$SKIFF_PID" ] && kill -0 "$SKIFF_PID" 2>/dev/null; then kill "$SKIFF_PID"; wait "$SKIFF_PID" 2>/dev/null || true; fi
  if [ -n "$REG_PID" ]; then kill "$REG_PID" 2>/dev/null; wait "$REG_PID" 2>/dev/null || true; fi
  # Whatever a failed run left: overlay and netns mounts under our dir, our bridge.
  { grep -o " $WORK[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  ip link del "$BRIDGE" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup_runtime EXIT

# --- a registry with a busybox image -------------------------------------------------------
REGPORT=$(free_port)
REG=127.0.0.1:$REGPORT
cat >"$WORK/registry.yml" <<YAML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $WORK/registry-data}, delete: {enabled: true}}
http: {addr: $REG}
YAML
docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
REG_PID=$!
wait_for "registry up" 10 curl -sf "http://$REG/v2/"
BB=$(command -v busybox)
mkdir -p "$WORK/src/bin" "$WORK/src/www" "$WORK/src/tmp" "$WORK/src/etc"
cp "$BB" "$WORK/src/bin/busybox"
for a in sh cat echo sleep ls grep tail id hostname httpd wget ip touch mount nslookup rm mkdir tty stty; do ln -s busybox "$WORK/src/bin/$a"; done
echo "served-from-image" >"$WORK/src/www/index.html"
printf 'root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/www:/bin/sh\n' >"$WORK/src/etc/passwd"
printf 'root:x:0:\nwww:x:33:\n' >"$WORK/src/etc/group"
(
  cd "$WORK"
  umoci init --layout oci >/dev/null
  umoci new --image oci:busybox >/dev/null
  umoci unpack --image oci:busybox bundle >/dev/null
  cp -a src/. bundle/rootfs/
  umoci repack --image oci:busybox bundle >/dev/null
  umoci config --image oci:busybox --config.entrypoint /bin/httpd --config.cmd -f --config.cmd -p --config.cmd 8080 \
    --config.cmd -h --config.cmd /www --config.workingdir /www --config.env GREETING=from-image >/dev/null
  skopeo --insecure-policy copy --dest-tls-verify=false oci:oci:busybox "docker://$REG/test/busybox:v1" >/dev/null
) || { echo "could not build and push the test image"; exit 1; }
IMG=$REG/test/busybox:v1

start_skiff --runtime native --bridge "$BRIDGE" --pod-cidr "$CIDR"
status() { "$SKIFF" get pod "$1" -o json | python3 -c "import json,sys; p=json.load(sys.stdin); print($2)"; }
phase() { [ "$(status "$1" 'p.get("status",{}).get("phase","")')" = "$2" ]; }
ready() { [ "$(status "$1" 'all(c.get("ready") for c in p.get("status",{}).get("containerStatuses",[{}]))')" = True ]; }
waiting_reason() { status "$1" '(p["status"].get("containerStatuses") or [{}])[0].get("state",{}).get("waiting",{}).get("reason","")'; }

"$SKIFF" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: ConfigMap
metadata: {name: site}
data: {motd: hello-from-configmap}
---
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: httpd
    image: $IMG
    ports: [{name: http, containerPort: 8080}]
    readinessProbe: {httpGet: {path: /, port: http}, periodSeconds: 1}
    resources: {limits: {memory: 64Mi, cpu: 500m}}
    volumeMounts:
    - {name: site, mountPath: /www/cm}
    - {name: scratch, mountPath: /scratch}
  - name: side
    image: $IMG
    command: ["sh", "-c"]
    args: ["echo user=\$(id -u) host=\$(hostname) greeting=\$GREETING; cat /etc/motd/motd; grep CapBnd /proc/self/status; ip -4 addr show eth0 | grep inet; echo shared > /scratch/x; exec sleep 300"]
    volumeMounts:
    - {name: site, mountPath: /etc/motd}
    - {name: scratch, mountPath: /scratch}
  volumes:
  - {name: site, configMap: {name: site}}
  - {name: scratch, emptyDir: {}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
YAML
check "a pod from a registry image becomes Running and Ready" wait_for "web ready" 60 ready web
IP=$(status web 'p["status"]["podIP"]')
check "the pod has an address from the pod CIDR" contains "$IP" "10.213.0."
check "the image's entrypoint serves on the pod address from the node" bash -c "curl -sf --max-time 5 http://$IP:8080/ | grep -q served-from-image"
check "a configMap volume is mounted into the container" bash -c "curl -sf --max-time 5 http://$IP:8080/cm/motd | grep -q hello-from-configmap"
out=$("$SKIFF" logs web -c side)
check "the container runs as root in its own UTS namespace with the image's env" contains "$out" "user=0 host=web greeting=from-image"
check "configMap keys are files" contains "$out" "hello-from-configmap"
check "capabilities are the default set" contains "$out" "CapBnd:	00000000a80425fb"
check "eth0 in the pod namespace carries the pod IP" contains "$out" "inet $IP/24"
check "the emptyDir is shared between the pod's containers" wait_for "emptyDir" 10 bash -c "curl -sf --max-time 2 http://$IP:8080/ >/dev/null && test -f $WORK/data/pods/default_web_*/volumes/scratch/x"
out=$("$SKIFF" exec web -c httpd -- sh -c 'echo pid1=$(cat /proc/1/cmdline | tr "\\0" " "); hostname; ls /www')
check "skiff exec runs inside the container's namespaces" contains "$out" "pid1=/bin/httpd -f -p 8080"
check "skiff exec sees the image's files" contains "$out" "index.html"
"$SKIFF" exec web -c side -- sh -c 'exit 7' && rc=0 || rc=$?
check "skiff exec returns the command's exit code" test "$rc" = 7
if command -v kubectl >/dev/null; then
  out=$(echo from-stdin | kubectl exec -i web -c side -- sh -c 'cat; hostname')
  check "kubectl exec -i streams stdin and stdout over WebSocket" contains "$out" "from-stdin"
  check "kubectl exec runs in the pod's UTS namespace" contains "$out" "web"
  if command -v script >/dev/null; then
    out=$(timeout 20 script -qec "kubectl exec -it web -c side -- sh -c 'tty; stty size'" /dev/null </dev/null 2>&1 | tr -d '\r' || true)
    check "kubectl exec -it gives the command a terminal" contains "$out" "/dev/pts/"
  fi
  out=$(kubectl exec web -c nope -- true 2>&1 || true)
  check "kubectl exec into a missing container says which exist" contains "$out" "choose one of: httpd side"
fi
# --- cluster DNS from inside a pod -----------------------------------------------------------------
out=$("$SKIFF" exec web -c side -- cat /etc/resolv.conf)
check "resolv.conf points at the node DNS server with the namespace search path" bash -c "grep -q 'nameserver 10.213.0.1' <<<'$out' && grep -q 'search default.svc.cluster.local svc.cluster.local cluster.local' <<<'$out' && grep -q 'ndots:5' <<<'$out'"
SVC_IP=$("$SKIFF" get svc web -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["spec"]["clusterIP"])')
out=$("$SKIFF" exec web -c side -- nslookup web.default.svc.cluster.local 2>&1 || true)
check "a pod resolves a Service's full name to its cluster IP" contains "$out" "$SVC_IP"
out=$("$SKIFF" exec web -c side -- nslookup -type=srv _http._tcp.web.default.svc.cluster.local 2>&1 || true)
check "SRV records for named ports" contains "$out" "80 web.default.svc.cluster.local"
POD_DASHED=$(echo "$IP" | tr . -)
out=$("$SKIFF" exec web -c side -- nslookup "$POD_DASHED.default.pod.cluster.local" 2>&1 || true)
check "pod A records" contains "$out" "$IP"
out=$("$SKIFF" exec web -c side -- nslookup nothing-here.default.svc.cluster.local 2>&1 || true)
check "unknown cluster names are NXDOMAIN" contains "$out" "NXDOMAIN"
# --- cluster IPs: the node's service proxy ---------------------------------------------------------
check "a Service gets a cluster IP from the service CIDR" contains "$SVC_IP" "10.96."
check "the node reaches a Service by cluster IP" wait_for "svc from node" 10 bash -c "curl -sf --max-time 2 http://$SVC_IP/ | grep -q served-from-image"
out=$("$SKIFF" exec web -c side -- wget -qO- "http://$SVC_IP/" 2>&1 || true)
check "a pod reaches a Service by cluster IP" contains "$out" "served-from-image"
out=$("$SKIFF" exec web -c side -- wget -qO- http://web.default/ 2>&1 || true)
check "a pod reaches a Service by name through the search path (web.default; bare web is this pod in /etc/hosts)" contains "$out" "served-from-image"
# --- service accounts: the API in the cluster, a pod's own token, what RBAC binds to it ----------
SA_DIR=/var/run/secrets/kubernetes.io/serviceaccount
out=$("$SKIFF" exec web -c side -- cat $SA_DIR/namespace 2>&1 || true)
check "the service-account volume is mounted with the pod's namespace" test "$out" = default
SATOKEN=$("$SKIFF" exec web -c side -- cat $SA_DIR/token 2>/dev/null || true)
check "and a token" contains "$SATOKEN" "^eyJ"
out=$("$SKIFF" exec web -c side -- sh -c 'echo $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT' 2>&1 || true)
KIP=$(kubectl get svc kubernetes -n default -o jsonpath='{.spec.clusterIP}')
check "pods learn the API's address from the kubernetes Service" bash -c "echo '$out'; test '$out' = '$KIP:443'"
check "the kubernetes Service reaches the API through the node proxy, with a certificate naming it" \
  bash -c "curl -sf --cacert '$CA' https://$KIP/version | grep -q gitVersion"
code() { curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" -H "Authorization: Bearer $SATOKEN" "$@"; }
check "the token alone reads nothing (RBAC grants service accounts nothing by default)" test "$(code "$SERVER/api/v1/namespaces/default/pods")" = 403
kubectl create rolebinding default-view -n default --clusterrole=view --serviceaccount=default:default >/dev/null
check "bound to view, the token reads its own namespace" test "$(code "$SERVER/api/v1/namespaces/default/pods")" = 200
check "but not its Secrets" test "$(code "$SERVER/api/v1/namespaces/default/secrets")" = 403
check "nor other namespaces" test "$(code "$SERVER/api/v1/namespaces/kube-system/pods")" = 403
check "nor writes" test "$(code -X DELETE "$SERVER/api/v1/namespaces/default/pods/web")" = 403
check "nor exec" test "$(code "$SERVER/api/v1/namespaces/default/pods/web/exec?command=true")" = 403
check "a forged token is refused" test "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" -H "Authorization: Bearer ${SATOKEN%?}x" "$SERVER/api/v1/namespaces/default/pods")" = 401
# --- per-pod network and per-container IO under cAdvisor's names -------------------------------------
cad=$(curl -s --cacert "$CA" -H "Authorization: Bearer $TOKEN" "$SERVER/metrics/cadvisor")
check "pod network counters from the pod's veth" bash -c "grep -E '^container_network_receive_bytes_total\{namespace=\"default\",pod=\"web\",container=\"POD\",interface=\"eth0\"' <<<'$cad' | grep -qv ' 0$'"
check "container IO counters from the blkio/io cgroup" grep -q '^container_fs_writes_bytes_total{namespace="default",pod="web",container="httpd"' <<<"$cad"
# --- AuthorizationPolicy at the destination: callers known by their pod's identity -----------------
"$SKIFF" apply -f - >/dev/null <<'YAML'
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: only-shop}
spec:
  selector: {matchLabels: {app: web}}
  action: ALLOW
  rules: [{from: [{source: {namespaces: [shop]}}]}]
YAML
sleep 0.5
out=$("$SKIFF" exec web -c side -- wget -S -qO- "http://$SVC_IP/" 2>&1 || true)
check "ALLOW from another namespace only: a pod in default gets 403" contains "$out" "403"
out=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://$SVC_IP/")
check "the node itself has no pod identity: 403" test "$out" = 403
"$SKIFF" apply -f - >/dev/null <<'YAML'
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: only-shop}
spec:
  selector: {matchLabels: {app: web}}
  rules: [{from: [{source: {principals: ["cluster.local/ns/default/sa/default"]}}], to: [{operation: {methods: [GET], paths: ["/cm/*"]}}]}]
YAML
sleep 0.5
out=$("$SKIFF" exec web -c side -- wget -qO- "http://$SVC_IP/cm/motd" 2>&1 || true)
check "the allowed principal, method and path get through" contains "$out" "hello-from-configmap"
out=$("$SKIFF" exec web -c side -- wget -S -qO- "http://$SVC_IP/" 2>&1 || true)
check "a path outside the rule is denied" contains "$out" "403"
metrics=$(curl -s --cacert "$CA" -H "Authorization: Bearer $TOKEN" "$SERVER/metrics")
check "denials are counted per policy" contains "$metrics" 'skiff_proxy_authz_denied_total{destination_service="default/web",policy="default/only-shop"}'
out=$("$SKIFF" apply -f - 2>&1 <<'YAML' || true
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: bad}
spec:
  action: AUDIT
  rules: [{to: [{operation: {ports: ["http"]}}]}]
YAML
)
check "a policy that does not parse is refused with its fields" bash -c "grep -q 'spec.action' <<<'$out' && grep -q 'spec.rules\[0\].to\[0\].operation.ports\[0\]' <<<'$out'"
"$SKIFF" delete authorizationpolicy only-shop >/dev/null
check "without the policy the pod is served again" wait_for "policy gone" 10 bash -c "curl -sf --max-time 2 http://$SVC_IP/ | grep -q served-from-image"
out=$(status web 'p["status"]["containerStatuses"][0]["imageID"]')
check "imageID names the manifest digest" contains "$out" "$REG/test/busybox@sha256:"
out=$("$SKIFF" image ls)
check "skiff image ls shows the pulled image" contains "$out" "$REG/test/busybox:v1"
out=$("$SKIFF" events 2>&1)
check "Pulling and Pulled events" contains "$out" "Successfully pulled image"

# --- the agent adopts running containers after skiff is killed ----------------------------------
host_pid=$(pgrep -x httpd | head -1)
stop_skiff KILL
check "the container keeps serving while skiff is down" bash -c "curl -sf --max-time 5 http://$IP:8080/ | grep -q served-from-image"
start_skiff --runtime native --bridge "$BRIDGE" --pod-cidr "$CIDR"
check "after a restart the pod is Ready again" wait_for "web ready again" 30 ready web
out=$(status web '[c["restartCount"] for c in p["status"]["containerStatuses"]]')
check "adopted, not restarted: restart counts stay 0" test "$out" = "[0, 0]"
check "the same container process still runs" bash -c "[ \"\$(pgrep -x httpd | head -1)\" = '$host_pid' ] && [ -n '$host_pid' ]"
check "the pod keeps its address" test "$(status web 'p["status"]["podIP"]')" = "$IP"
out=$("$SKIFF" exec web -c side -- cat /scratch/x)
check "exec works in an adopted container" contains "$out" "shared"

# --- only Ready endpoints get traffic -------------------------------------------------------------
"$SKIFF" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: web2, labels: {app: web}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: httpd
    image: $IMG
    command: ["sh", "-c", "mkdir -p /w && echo second-replica > /w/index.html && touch /w/ready && exec httpd -f -p 8080 -h /w"]
    readinessProbe: {httpGet: {path: /ready, port: 8080}, periodSeconds: 1, failureThreshold: 1}
YAML
check "the second replica becomes Ready" wait_for "web2 ready" 30 ready web2
seen() { for _ in $(seq 1 12); do curl -sf --max-time 2 "http://$SVC_IP/"; done; }
"$SKIFF" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Service
metadata: {name: sticky}
spec:
  type: NodePort
  selector: {app: web}
  sessionAffinity: ClientIP
  ports: [{name: http, port: 80, targetPort: 8080}]
YAML
NODE_PORT=$("$SKIFF" get svc sticky -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["spec"]["ports"][0]["nodePort"])')
STICKY_IP=$("$SKIFF" get svc sticky -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["spec"]["clusterIP"])')
check "a NodePort Service answers on the node's port" wait_for "node port" 10 bash -c "curl -sf --max-time 2 http://127.0.0.1:$NODE_PORT/ | grep -q -e served-from-image -e second-replica"
check "traffic reaches both ready replicas" wait_for "both replicas" 15 bash -c "out=\$($(declare -f seen); SVC_IP=$SVC_IP seen); grep -q second-replica <<<\"\$out\" && grep -q served-from-image <<<\"\$out\""
sticky=$(for _ in $(seq 1 12); do curl -sf --max-time 2 "http://$STICKY_IP/"; done | sort -u | wc -l)
check "sessionAffinity ClientIP keeps one client on one replica" test "$sticky" = 1
timeout_s=$("$SKIFF" get svc sticky -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["spec"]["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"])')
check "ClientIP affinity defaults to Kubernetes' three hours" test "$timeout_s" = 10800
"$SKIFF" delete svc sticky >/dev/null
check "a deleted Service's node port closes" wait_for "node port closed" 10 bash -c "! curl -sf --max-time 1 http://127.0.0.1:$NODE_PORT/ >/dev/null"
"$SKIFF" exec web2 -- rm /w/ready
ready_ips() { "$SKIFF" get endpoints web -o json | python3 -c 'import json,sys; print(sum(len(s.get("addresses",[])) for s in json.load(sys.stdin).get("subsets",[])))'; }
check "a replica failing readiness leaves the Service's ready endpoints" wait_for "web2 unready" 15 bash -c "[ \"\$($(declare -f ready_ips); SKIFF=$SKIFF ready_ips)\" = 1 ]"
out=$(seen)
check "then only the ready replica answers" bash -c "! grep -q second-replica <<<'$out' && grep -q served-from-image <<<'$out'"
"$SKIFF" delete pod web2 --wait=false >/dev/null

# --- failures end as reasons on the pod ------------------------------------------------------
"$SKIFF" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: missing}
spec:
  containers: [{name: c, image: $REG/test/nope:v1}]
---
apiVersion: v1
kind: Pod
metadata: {name: hog}
spec:
  restartPolicy: Never
  containers:
  - {name: c, image: $IMG, command: ["sh", "-c", "tail /dev/zero"], resources: {limits: {memory: 16Mi}}}
---
apiVersion: v1
kind: Pod
metadata: {name: nobin}
spec:
  containers: [{name: c, image: $IMG, command: ["no-such-binary"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: nouser}
spec:
  containers: [{name: c, image: $IMG, securityContext: {runAsUser: 33}, command: ["sh", "-c", "id -u; sleep 300"]}]
YAML
check "a missing image ends in ErrImagePull or ImagePullBackOff" wait_for "pull failure" 30 bash -c "[[ \$($(declare -f status waiting_reason); SKIFF=$SKIFF waiting_reason missing) == *Image* ]]"
out=$(status missing '(p["status"]["containerStatuses"][0]["state"]["waiting"].get("message",""))')
check "the pull failure carries the registry's reason" contains "$out" "MANIFEST_UNKNOWN"
check "a memory hog is OOMKilled" wait_for "oom" 30 bash -c "$SKIFF get pod hog -o json | grep -q OOMKilled"
check "a missing binary is a RunContainerError naming it" wait_for "nobin" 30 bash -c "$SKIFF get pod nobin -o json | grep -q 'executable file not found'"
check "runAsUser runs as that user" wait_for "uid 33" 30 bash -c "$SKIFF logs nouser | grep -qx 33"
check "the agent kept serving the healthy pod" bash -c "curl -sf --max-time 5 http://$IP:8080/ | grep -q served-from-image"

# --- images ------------------------------------------------------------------------------------
out=$("$SKIFF" image import "$WORK/oci" --name local/imported:v1)
check "an OCI layout imports under a name" contains "$out" "docker.io/local/imported:v1"
"$SKIFF" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: imported}
spec:
  containers: [{name: c, image: local/imported:v1, imagePullPolicy: Never, command: ["sh", "-c", "echo imported-ran; sleep 300"]}]
YAML
check "a pod runs an imported image without a registry" wait_for "imported" 30 bash -c "$SKIFF logs imported | grep -q imported-ran"
skopeo --insecure-policy copy "oci:$WORK/oci:busybox" "docker-archive:$WORK/saved.tar:saved/app:v2" >/dev/null 2>&1
out=$("$SKIFF" image import "$WORK/saved.tar")
check "a docker save archive imports under its RepoTags" contains "$out" "docker.io/saved/app:v2"
out=$("$SKIFF" image import "$WORK/registry.yml" 2>&1 || true)
check "importing something that is no image says so" contains "$out" "is not a readable image archive"
out=$("$SKIFF" image rm "$IMG" 2>&1 || true)
check "an image in use cannot be removed" contains "$out" "in use"

# --- StatefulSet claims: each ordinal keeps its own node-local volume -------------------------
"$SKIFF" apply -f - >/dev/null <<YAML
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 2
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: $IMG
        command: ["sh", "-c", "[ -f /data/first ] || hostname > /data/first; echo first=\$(cat /data/first); exec sleep 300"]
        volumeMounts: [{name: data, mountPath: /data}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
YAML
check "both ordinals run" wait_for "db ready" 60 bash -c "$SKIFF logs db-1 2>/dev/null | grep -q first=db-1"
out=$("$SKIFF" get pvc)
check "a Bound claim per ordinal" bash -c "grep -q 'data-db-0 .*Bound .*1Gi .*RWO .*local-path' <<<'$out' && grep -q 'data-db-1 .*Bound' <<<'$out'"
"$SKIFF" delete pod db-0 >/dev/null
check "a replaced pod finds its ordinal's data" wait_for "db-0 back" 60 bash -c "$SKIFF logs db-0 2>/dev/null | grep -q first=db-0"
out=$(status db-0 '[v for v in p["spec"]["volumes"] if v["name"]=="data"][0]["persistentVolumeClaim"]["claimName"]')
check "the pod mounts its claim" test "$out" = "data-db-0"
"$SKIFF" delete statefulset db >/dev/null
out=$("$SKIFF" apply -f - 2>&1 <<YAML || true
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: bad}
spec: {accessModes: [ReadWriteSometimes]}
YAML
)
check "a bad claim is refused with field paths" bash -c "grep -q 'spec.accessModes\[0\]' <<<'$out' && grep -q 'spec.resources.requests\[storage\]' <<<'$out'"

# --- clean-up ----------------------------------------------------------------------------------
"$SKIFF" delete pod --all --wait=false >/dev/null 2>&1 || true
check "pods go away" wait_for "pods gone" 30 bash -c "! $SKIFF get pods -o name | grep -q pod/"
check "no pod namespaces or veths remain" wait_for "veths gone" 10 bash -c "! ip -o link show master $BRIDGE | grep -q ."
check "no overlay mounts remain" bash -c "! grep -q \"$WORK/data/pods\" /proc/mounts"
check "no pod netns files remain" wait_for "netns files" 10 bash -c "[ -z \"\$(ls $WORK/data/network/netns)\" ]"
check "no address leases remain" wait_for "leases" 10 bash -c "[ -z \"\$(ls $WORK/data/network/ips)\" ]"
"$SKIFF" image rm "$IMG" local/imported:v1 saved/app:v2 >/dev/null
out=$("$SKIFF" image prune)
check "prune reports what it freed" contains "$out" "unpacked layers"
check "prune leaves no blobs or layers once no image is named" bash -c "[ -z \"\$(find $WORK/data/images/blobs/sha256 $WORK/data/images/layers -mindepth 1)\" ]"
stop_skiff
check "the bridge goes with skiff" bash -c "! ip link show $BRIDGE 2>/dev/null"

# --- the oci runtime (runc) runs the same pod ------------------------------------------------
if command -v runc >/dev/null; then
  start_skiff --runtime oci --bridge "$BRIDGE" --pod-cidr "$CIDR"
  "$SKIFF" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: httpd
    image: $IMG
    readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
YAML
  check "runc runs the pod and it becomes Ready" wait_for "oci ready" 60 ready web
  IP=$(status web 'p["status"]["podIP"]')
  check "the runc container serves on its pod address" bash -c "curl -sf --max-time 5 http://$IP:8080/ | grep -q served-from-image"
  "$SKIFF" delete pod web >/dev/null
  check "the runc pod goes away" wait_for "gone" 30 bash -c "! $SKIFF get pod web 2>/dev/null | grep -q web"
  stop_skiff
fi
finish
