#!/usr/bin/env bash
# The container walls (issue 18) with real pods on the native and the oci (runc) runtime, probed
# from inside by a static helper (tests/helpers/walls_probe.cpp) in a busybox image:
# - a subPath through a symlink the pod planted in its emptyDir (`link -> /`) is refused, a
#   subPath inside the volume works;
# - host devices made with mknod cannot be opened (devices cgroup), nor any node on the nodev
#   root or volumes;
# - seccomp refuses clone/clone3 with namespace flags, io_uring and personality(READ_IMPLIES_EXEC);
# - root containers have no inheritable capabilities; an exec into a drop-ALL container gets none;
# - a pod holds only its stdio, none of skiff's fds, so kill -9 of skiff with pods running and a
#   restart on the same port works, three times in a row.
source "$(dirname "$0")/lib.sh"
PROBE=$(dirname "$SKIFF")/tests/walls_probe
if [ "$(id -u)" != 0 ] || ! command -v umoci >/dev/null || [ ! -x "$PROBE" ]; then
  echo "skipped: needs root, umoci and the static walls_probe (built with the tests)"
  exit 0
fi
export SKIFF_RESTART_BACKOFF_MS=300
BRIDGE=skw$$
CIDR=10.217.0.0/24
PORT=$(free_port)
cleanup_walls() {
  if [ -n "$SKIFF_PID" ] && kill -0 "$SKIFF_PID" 2>/dev/null; then kill "$SKIFF_PID"; wait "$SKIFF_PID" 2>/dev/null || true; fi
  # Containers a failed run left behind (skiff killed): they sit in the pids cgroups named after
  # our pods' uids (DIR/pods/<ns>_<name>_<uid>).
  for pod in "$WORK"/data/pods/*_*; do
    [ -d "$pod" ] || continue
    for procs in /sys/fs/cgroup/pids/skiff/"${pod##*_}"_*/cgroup.procs /sys/fs/cgroup/pids/*/*/skiff/"${pod##*_}"_*/cgroup.procs; do
      if [ -f "$procs" ]; then while read -r pid; do kill -9 "$pid" 2>/dev/null || true; done <"$procs"; fi
    done
  done
  { grep -o " $WORK[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  ip link del "$BRIDGE" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup_walls EXIT

# --- an image with busybox and the probe ---------------------------------------------------------
mkdir -p "$WORK/src/bin" "$WORK/src/tmp" "$WORK/src/etc"
cp "$(command -v busybox)" "$WORK/src/bin/busybox"
cp "$PROBE" "$WORK/src/bin/walls"
for a in sh cat echo sleep ls ln mkdir id; do ln -s busybox "$WORK/src/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$WORK/src/etc/passwd"
printf 'root:x:0:\n' >"$WORK/src/etc/group"
(
  cd "$WORK"
  umoci init --layout oci >/dev/null
  umoci new --image oci:walls >/dev/null
  umoci unpack --image oci:walls bundle >/dev/null
  cp -a src/. bundle/rootfs/
  umoci repack --image oci:walls bundle >/dev/null
  umoci config --image oci:walls --config.cmd sh >/dev/null
) || { echo "could not build the test image"; exit 1; }

status() { "$SKIFF" get pod "$1" -o json | python3 -c "import json,sys; p=json.load(sys.stdin); print($2)"; }
running() { [ "$(status "$1" '((p["status"].get("containerStatuses") or [{}])[0].get("state") or {}).get("running") is not None')" = True ]; }

apply_pods() {
  "$SKIFF" apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: escape}
spec:
  terminationGracePeriodSeconds: 1
  initContainers:
  - {name: plant, image: local/walls:v1, imagePullPolicy: Never, command: [sh, -c, "ln -sfn / /vol/link; mkdir -p /vol/ok; echo inside > /vol/ok/file"], volumeMounts: [{name: vol, mountPath: /vol}]}
  containers:
  - {name: c, image: local/walls:v1, imagePullPolicy: Never, command: [sh, -c, "ls /host; sleep 300"], volumeMounts: [{name: vol, mountPath: /host, subPath: link}]}
  volumes: [{name: vol, emptyDir: {}}]
---
apiVersion: v1
kind: Pod
metadata: {name: subok}
spec:
  terminationGracePeriodSeconds: 1
  initContainers:
  - {name: plant, image: local/walls:v1, imagePullPolicy: Never, command: [sh, -c, "mkdir -p /vol/ok; echo inside > /vol/ok/file"], volumeMounts: [{name: vol, mountPath: /vol}]}
  containers:
  - {name: c, image: local/walls:v1, imagePullPolicy: Never, command: [sh, -c, "cat /ok/file; sleep 300"], volumeMounts: [{name: vol, mountPath: /ok, subPath: ok}]}
  volumes: [{name: vol, emptyDir: {}}]
---
apiVersion: v1
kind: Pod
metadata: {name: probe}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: local/walls:v1
    imagePullPolicy: Never
    command: [sh, -c, "walls fds; walls mknod-open /dev/xloop b 7 0; walls mknod-open /dev/xtty c 4 1; walls mknod-open /tmp/xloop b 7 0; walls mknod-open /data/xnull c 1 3; for t in clone-ns clone3-ns io-uring personality fork; do walls $t; done; walls status; exec sleep 300"]
    volumeMounts: [{name: data, mountPath: /data}]
  volumes: [{name: data, emptyDir: {}}]
---
apiVersion: v1
kind: Pod
metadata: {name: dropall}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: local/walls:v1, imagePullPolicy: Never, command: [sleep, "300"], securityContext: {capabilities: {drop: [ALL]}}}
YAML
}

for RUNTIME in native oci; do
  if [ "$RUNTIME" = oci ] && ! command -v runc >/dev/null; then continue; fi
  start_skiff --runtime "$RUNTIME" --bridge "$BRIDGE" --pod-cidr "$CIDR" --listen "127.0.0.1:$PORT"
  "$SKIFF" image import "$WORK/oci" --name local/walls:v1 >/dev/null
  apply_pods
  check "$RUNTIME: the probe pod runs" wait_for "probe" 60 bash -c "$SKIFF logs probe 2>/dev/null | grep -q Seccomp"

  # subPath
  check "$RUNTIME: subPath through a planted link to / is refused" wait_for "escape refused" 60 \
    bash -c "$SKIFF get pod escape -o json | grep -q 'leads outside its volume'"
  out=$(status escape '(p["status"].get("containerStatuses") or [{}])[0].get("state",{}).get("waiting",{}).get("reason","")')
  check "$RUNTIME: ... as CreateContainerConfigError" test "$out" = CreateContainerConfigError
  check "$RUNTIME: a subPath inside the volume works" wait_for "subok" 60 bash -c "$SKIFF logs subok -c c 2>/dev/null | grep -qx inside"

  # devices, seccomp, capabilities, fds: from the probe's own log
  out=$("$SKIFF" logs probe)
  check "$RUNTIME: the pod holds only its stdio" contains "$out" "^fds: 0 1 2$"
  check "$RUNTIME: a host block device made with mknod cannot be opened" contains "$out" "open /dev/xloop: EPERM"
  check "$RUNTIME: a host tty made with mknod cannot be opened" contains "$out" "open /dev/xtty: EPERM"
  check "$RUNTIME: the root file system is nodev" contains "$out" "open /tmp/xloop: EACCES"
  check "$RUNTIME: an emptyDir is nodev" contains "$out" "open /data/xnull: EACCES"
  check "$RUNTIME: clone with CLONE_NEWUSER|CLONE_NEWNET is refused" contains "$out" "clone-ns: EPERM"
  check "$RUNTIME: clone3 is ENOSYS" contains "$out" "clone3-ns: ENOSYS"
  check "$RUNTIME: io_uring_setup is refused" contains "$out" "io-uring: EPERM"
  check "$RUNTIME: personality(READ_IMPLIES_EXEC) is refused" contains "$out" "personality: EPERM"
  check "$RUNTIME: plain fork still works" contains "$out" "fork: allowed"
  check "$RUNTIME: root has no inheritable capabilities" contains "$out" "CapInh:.0000000000000000"

  # exec gets the container's confinement
  check "$RUNTIME: the drop-ALL pod runs" wait_for "dropall" 60 running dropall
  out=$("$SKIFF" exec dropall -- walls status 2>&1 || true)
  for line in "CapEff:.0000000000000000" "CapPrm:.0000000000000000" "CapBnd:.0000000000000000" "CapInh:.0000000000000000" "NoNewPrivs:.1" "Seccomp:.2"; do
    check "$RUNTIME: exec into a drop-ALL container: $line" contains "$out" "$line"
  done
  out=$("$SKIFF" exec probe -- walls fds 2>&1 || true)
  check "$RUNTIME: an exec holds only its stdio" contains "$out" "^fds: 0 1 2$"

  # kill -9 with pods running, restart on the same data dir and port
  probe_pid=$(status probe 'p["status"]["containerStatuses"][0]["containerID"].split("//")[1]')
  for round in 1 2 3; do
    stop_skiff KILL
    start_skiff --runtime "$RUNTIME" --bridge "$BRIDGE" --pod-cidr "$CIDR" --listen "127.0.0.1:$PORT"
    check "$RUNTIME: round $round: skiff is back on port $PORT after kill -9" contains "$SERVER" ":$PORT"
    check "$RUNTIME: round $round: the API answers" bash -c "$SKIFF get pods -o name | grep -q pod/probe"
  done
  check "$RUNTIME: the probe container was adopted, not restarted" wait_for "adopted" 30 \
    bash -c "[ \"\$($(declare -f status); SKIFF=$SKIFF status probe 'p[\"status\"][\"containerStatuses\"][0][\"containerID\"].split(\"//\")[1]')\" = '$probe_pid' ]"

  uids=$(ls "$WORK/data/pods" | sed 's/.*_//')
  "$SKIFF" delete pod --all --wait=false >/dev/null 2>&1 || true
  check "$RUNTIME: pods go away" wait_for "pods gone" 60 bash -c "! $SKIFF get pods -o name | grep -q pod/"
  check "$RUNTIME: no subPath binds remain" wait_for "subPath binds gone" 30 bash -c "! grep -q \"$WORK.*volume-subpaths\" /proc/mounts"
  leftover() { for u in $uids; do ls -d /sys/fs/cgroup/devices/skiff/"${u}"_* 2>/dev/null; done; }
  check "$RUNTIME: no devices cgroup of the pods remains (adopted ones included)" wait_for "devices cgroups gone" 30 \
    bash -c "[ -z \"\$($(declare -f leftover); uids='$uids' leftover)\" ]"
  stop_skiff
done
finish
