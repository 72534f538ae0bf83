#!/usr/bin/env bash
# What a pod gets from the node beyond its walls, on the native runtime and then the oci one: private data from the
# first byte (the data dir and skiff's files closed to other host users, containers still at
# umask 022), volume ownership and modes as the kubelet sets them (fsGroup, runAsUser, the token
# file), hostNetwork/hostPID/hostIPC honoured, and ephemeral-storage limits enforced by eviction.
source "$(dirname "$0")/lib.sh"
if [ "$(id -u)" != 0 ] || ! command -v umoci >/dev/null || ! command -v setpriv >/dev/null; then
  echo "skipped: needs root, umoci and setpriv (scripts/install-deps.sh installs them)"
  exit 0
fi
export SKIFF_EVICTION_INTERVAL_MS=500
BRIDGE=skr$$
CIDR=10.214.0.0/24
cleanup_podres() {
  if [ -n "$SKIFF_PID" ] && kill -0 "$SKIFF_PID" 2>/dev/null; then kill "$SKIFF_PID"; wait "$SKIFF_PID" 2>/dev/null || true; fi
  { grep -o " $WORK[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  ip link del "$BRIDGE" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup_podres EXIT

# --- a busybox image, imported without a registry ----------------------------------------------
mkdir -p "$WORK/src/bin" "$WORK/src/etc" "$WORK/src/tmp"
cp "$(command -v busybox)" "$WORK/src/bin/busybox"
for a in sh cat echo sleep id stat touch dd readlink hostname ls grep rm head tr; do ln -s busybox "$WORK/src/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$WORK/src/etc/passwd"
printf 'root:x:0:\n' >"$WORK/src/etc/group"
(
  cd "$WORK"
  umoci init --layout oci >/dev/null
  umoci new --image oci:bb >/dev/null
  umoci unpack --image oci:bb bundle >/dev/null
  cp -a src/. bundle/rootfs/
  chmod 1777 bundle/rootfs/tmp
  umoci repack --image oci:bb bundle >/dev/null
) || { echo "could not build the test image"; exit 1; }

RUNTIME=${SKIFF_TEST_RUNTIME:-native}
start_skiff --runtime "$RUNTIME" --bridge "$BRIDGE" --pod-cidr "$CIDR"
DATA=$WORK/data
"$SKIFF" image import "$WORK/oci" --name local/bb:v1 >/dev/null
IMG=local/bb:v1
nsid() { readlink /proc/self/ns/"$1" | tr -d '[]'; }  # brackets would be a pattern to grep
status() { "$SKIFF" get pod "$1" -o json | python3 -c "import json,sys; p=json.load(sys.stdin); print($2)"; }
phase() { [ "$(status "$1" 'p.get("status",{}).get("phase","")')" = "$2" ]; }
running() { phase "$1" Running && "$SKIFF" logs "$1" 2>/dev/null | grep -q "^ready$"; }

# --- 2. volume ownership and modes as the kubelet sets them -------------------------------------
"$SKIFF" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {password: s3cret}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: conf}
data: {greeting: hello}
---
apiVersion: v1
kind: Pod
metadata: {name: grouped}
spec:
  terminationGracePeriodSeconds: 1
  securityContext: {runAsUser: 1000, runAsGroup: 3000, fsGroup: 2000}
  containers:
  - name: c
    image: $IMG
    imagePullPolicy: Never
    command: [sh, -c]
    args:
    - |
      echo umask=\$(umask); id
      stat -c 'mode %a %u %g %n' /secret/password /conf/greeting /scratch /var/run/secrets/kubernetes.io/serviceaccount/token
      touch /scratch/made && stat -c 'mode %a %u %g %n' /scratch/made
      echo password=\$(cat /secret/password) token=\$(head -c 3 /var/run/secrets/kubernetes.io/serviceaccount/token)
      echo ready; exec sleep 300
    volumeMounts:
    - {name: secret, mountPath: /secret}
    - {name: conf, mountPath: /conf}
    - {name: scratch, mountPath: /scratch}
  volumes:
  - {name: secret, secret: {secretName: creds, defaultMode: 0400}}  # octal (256), as kubectl reads it
  - {name: conf, configMap: {name: conf}}
  - {name: scratch, emptyDir: {}}
---
apiVersion: v1
kind: Pod
metadata: {name: user}
spec:
  terminationGracePeriodSeconds: 1
  securityContext: {runAsUser: 1000}
  containers:
  - name: c
    image: $IMG
    imagePullPolicy: Never
    command: [sh, -c]
    args:
    - |
      stat -c 'mode %a %u %g %n' /var/run/secrets/kubernetes.io/serviceaccount/token /scratch
      echo token=\$(head -c 3 /var/run/secrets/kubernetes.io/serviceaccount/token)
      echo ready; exec sleep 300
    volumeMounts: [{name: scratch, mountPath: /scratch}]
  volumes: [{name: scratch, emptyDir: {}}]
YAML
check "a pod with runAsUser and fsGroup runs" wait_for "grouped" 60 running grouped
out=$("$SKIFF" logs grouped)
check "containers get umask 022, not skiff's 077" contains "$out" "umask=0022"
check "fsGroup is a supplementary group of the container" contains "$out" "groups=.*2000"
check "a secret with defaultMode 0400 (256) is group-readable by fsGroup (0440), as SetVolumeOwnership makes it" contains "$out" "mode 440 0 2000 /secret/password"
check "configMap files keep 0644, group fsGroup" contains "$out" "mode 644 0 2000 /conf/greeting"
check "an emptyDir is 0777 with the setgid bit, group fsGroup (the kubelet's emptyDir)" contains "$out" "mode 2777 0 2000 /scratch"
check "the token is 0640, owned by runAsUser, group fsGroup" contains "$out" "mode 640 1000 2000 /var/run/secrets/kubernetes.io/serviceaccount/token"
check "files made in the emptyDir take the fsGroup group" contains "$out" "mode 644 1000 2000 /scratch/made"
check "the pod's user reads its secret and token" contains "$out" "password=s3cret token=eyJ"
check "a pod with runAsUser alone runs" wait_for "user" 60 running user
out=$("$SKIFF" logs user)
check "without fsGroup the token is 0600 and owned by runAsUser" contains "$out" "mode 600 1000 0 /var/run/secrets/kubernetes.io/serviceaccount/token"
check "and readable by it" contains "$out" "token=eyJ"
check "without fsGroup an emptyDir is 0777 root-owned, as the kubelet makes it" contains "$out" "mode 777 0 0 /scratch"

# --- 1. private data from the first byte --------------------------------------------------------
check "the data dir is 0700" test "$(stat -c %a "$DATA")" = 700
check "the admin kubeconfig is 0600 and no temporary copy is left" bash -c "test \$(stat -c %a '$DATA/kubeconfig') = 600 && ! test -e '$DATA/kubeconfig.tmp'"
# Everything skiff made itself is private; what a container sees through a mount keeps the mode
# the image or the pod asked for (images' layers, containers' roots, pod volumes and the
# /etc/hosts, hostname and resolv.conf files), all behind the 0700 data dir. Network namespace
# files are nsfs mounts (0444 by the kernel); runc makes its state dirs 0711 itself.
open_files=$(cd "$DATA" && find . -path ./images/layers -prune -o -path ./network/netns -prune -o -path ./runc -prune -o -path './pods/*/c' -prune -o -path './pods/*/volumes' -prune \
  -o -path './pods/*/hosts' -prune -o -path './pods/*/hostname' -prune -o -path './pods/*/resolv.conf' -prune -o -path ./volumes -prune \
  -o \( -perm /077 -a ! -type l \) -printf '%m %p\n')
check "every other file and directory under the data dir is owner-only" test -z "$open_files"
[ -n "$open_files" ] && echo "$open_files" | head -20 >&2
for f in store.db store.db-wal token tls/ca.key tls/ca.crt; do
  [ -e "$DATA/$f" ] && check "$f has no group or other bits" test "$(($(stat -c 0%a "$DATA/$f") & 077))" = 0
done
chmod 755 "$WORK"  # only the data dir's own mode stands between other host users and it now
check "another host user cannot enter the data dir" bash -c "! setpriv --reuid=65534 --regid=65534 --clear-groups ls '$DATA' >/dev/null 2>&1"
check "nor read a pod's secret through its path" bash -c "! setpriv --reuid=65534 --regid=65534 --clear-groups cat $DATA/pods/default_grouped_*/volumes/secret/password 2>/dev/null"
chmod 700 "$WORK"

# --- 3. hostNetwork, hostPID, hostIPC -----------------------------------------------------------
"$SKIFF" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: hostns}
spec:
  terminationGracePeriodSeconds: 1
  hostNetwork: true
  hostPID: true
  hostIPC: true
  containers:
  - name: c
    image: $IMG
    imagePullPolicy: Never
    command: [sh, -c, 'echo net=\$(readlink /proc/self/ns/net | tr -d \"[]\") pid=\$(readlink /proc/self/ns/pid | tr -d \"[]\") ipc=\$(readlink /proc/self/ns/ipc | tr -d \"[]\") uts=\$(readlink /proc/self/ns/uts | tr -d \"[]\") host=\$(hostname); echo ready; exec sleep 300']
---
apiVersion: v1
kind: Pod
metadata: {name: ownns}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: $IMG
    imagePullPolicy: Never
    command: [sh, -c, 'echo net=\$(readlink /proc/self/ns/net | tr -d \"[]\") pid=\$(readlink /proc/self/ns/pid | tr -d \"[]\") ipc=\$(readlink /proc/self/ns/ipc | tr -d \"[]\"); echo ready; exec sleep 300']
YAML
check "a pod with hostNetwork, hostPID and hostIPC runs" wait_for "hostns" 60 running hostns
check "a pod without them runs" wait_for "ownns" 60 running ownns
out=$("$SKIFF" logs hostns)
check "hostNetwork: the container is in the node's network namespace" contains "$out" "net=$(nsid net) "
check "hostPID: in the node's pid namespace" contains "$out" "pid=$(nsid pid) "
check "hostIPC: in the node's ipc namespace" contains "$out" "ipc=$(nsid ipc) "
check "hostNetwork shares the node's UTS namespace and host name" contains "$out" "uts=$(nsid uts) host=$(hostname)"
out=$("$SKIFF" exec hostns -- sh -c 'cat /proc/1/cmdline | tr "\0" " "')
check "hostPID: the node's processes are visible (its pid 1)" contains "$out" "$(tr '\0' ' ' </proc/1/cmdline | head -c 20)"
check "status.podIP is the node's address (hostIP)" bash -c "test \"\$($(declare -f status); SKIFF=$SKIFF status hostns 'p[\"status\"][\"podIP\"] == p[\"status\"][\"hostIP\"]')\" = True"
out=$("$SKIFF" logs ownns)
check "a pod without them keeps its own network namespace" lacks "$out" "net=$(nsid net) "
check "and its own pid and ipc namespaces" bash -c "! grep -q 'pid=$(nsid pid) ' <<<'$out' && ! grep -q 'ipc=$(nsid ipc)' <<<'$out'"
"$SKIFF" delete pod hostns ownns grouped user >/dev/null 2>&1 || true

# --- 4. ephemeral storage: eviction past the limits ---------------------------------------------
"$SKIFF" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: filler}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: $IMG
    imagePullPolicy: Never
    command: [sh, -c, 'dd if=/dev/zero of=/big bs=1M count=120 2>/dev/null; echo ready; exec sleep 300']
    resources: {limits: {ephemeral-storage: 50Mi}}
---
apiVersion: v1
kind: Pod
metadata: {name: twofill}
spec:
  restartPolicy: Never
  containers:
  - name: hog
    image: $IMG
    imagePullPolicy: Never
    command: [sh, -c, 'dd if=/dev/zero of=/big bs=1M count=80 2>/dev/null; echo ready; exec sleep 300']
    resources: {limits: {ephemeral-storage: 50Mi}}
  - name: idle
    image: $IMG
    imagePullPolicy: Never
    command: [sh, -c, 'exec sleep 300']
    resources: {limits: {ephemeral-storage: 500Mi}}
---
apiVersion: v1
kind: Pod
metadata: {name: dirfill}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: $IMG
    imagePullPolicy: Never
    command: [sh, -c, 'dd if=/dev/zero of=/scratch/big bs=1M count=40 2>/dev/null; echo ready; exec sleep 300']
    volumeMounts: [{name: scratch, mountPath: /scratch}]
  volumes: [{name: scratch, emptyDir: {sizeLimit: 20Mi}}]
---
apiVersion: v1
kind: Pod
metadata: {name: modest}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: $IMG
    imagePullPolicy: Never
    command: [sh, -c, 'dd if=/dev/zero of=/small bs=1M count=10 2>/dev/null; echo ready; exec sleep 300']
    resources: {limits: {ephemeral-storage: 50Mi}}
YAML
evicted() { [ "$(status "$1" 'p["status"].get("reason","")')" = Evicted ] && phase "$1" Failed; }
check "a pod writing 120 MB past a 50Mi limit is evicted" wait_for "filler evicted" 60 evicted filler
check "with the kubelet's message for the pod's total" test "$(status filler 'p["status"].get("message","")')" = "Pod ephemeral local storage usage exceeds the total limit of containers 50Mi. "
check "its container was killed" test "$(status filler 'p["status"]["containerStatuses"][0]["state"].get("terminated",{}).get("exitCode")')" = 137
check "an Evicted event names the reason" wait_for "event" 10 bash -c "'$SKIFF' get events -o json | grep -q 'exceeds the total limit of containers 50Mi'"
check "a container past its own limit, the pod under its total, is evicted" wait_for "twofill evicted" 60 evicted twofill
check "with the kubelet's message for the container" test "$(status twofill 'p["status"].get("message","")')" = 'Container hog exceeded its local ephemeral storage limit "50Mi". '
check "an emptyDir past its sizeLimit evicts the pod" wait_for "dirfill evicted" 60 evicted dirfill
check "with the kubelet's message for the volume" test "$(status dirfill 'p["status"].get("message","")')" = 'Usage of EmptyDir volume "scratch" exceeds the limit "20Mi". '
check "a pod under its limit wrote its 10 MB" wait_for "modest" 30 running modest
sleep 2  # four more measurements
check "and keeps running" phase modest Running
check "without a reason" test -z "$(status modest 'p["status"].get("reason","")')"

stop_skiff
if [ "$RUNTIME" = native ] && command -v runc >/dev/null; then
  check "all of the above on the oci runtime (runc) too" env SKIFF_TEST_RUNTIME=oci bash "$0" "$SKIFF"
fi
finish
