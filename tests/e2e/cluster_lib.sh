# Many "hosts" on this one machine for end-to-end tests of cluster mode. Source it after lib.sh:
#
#   source "$(dirname "$0")/lib.sh"
#   source "$(dirname "$0")/cluster_lib.sh"
#   cluster_requirements || { echo "skipped: $CLUSTER_MISSING"; exit 0; }
#   cluster_hosts cp h1 h2 h3          # network namespaces on one test bridge, 10.99.0.0/24
#   cluster_registries                 # a docker-registry on 127.0.0.1:5000 in every host, one image
#   cluster_server cp [flags]          # `skiff server` in host cp; KUBECONFIG set
#   cluster_agent h1 [flags]           # `skiff agent` in host h1 (native runtime, --node-ip)
#   hk get nodes                       # kubectl, run inside the server's host
#   on h1 curl ...                     # any command inside a host
#
# Each host is a network namespace with its own eth0 (HOST_IP[h]), loopback, data dir
# ($WORK/<host>) and cgroups: every process started in it is first moved into cgroups the
# harness made, so whatever a run leaves there can be found and removed. The hosts meet on a
# bridge that lives in a namespace of its own: no traffic leaves namespaces the test made or
# loopback, and no interface is added to the machine's own namespace.
#
# Cleanup (an EXIT trap, on success or failure): SIGTERM to every skiff and registry started
# here, by PID, and wait for each; then what is still running in the harness's cgroups (only
# processes this test started) gets SIGKILL; mounts under $WORK are detached; the namespaces
# (with their bridges, veths and VXLAN devices) are deleted; the cgroups removed.

CLUSTER_TAG=skc$$
CLUSTER_SUBNET=10.99.0
CLUSTER_SWITCH=$CLUSTER_TAG-sw
CLUSTER_IMAGE=127.0.0.1:5000/test/busybox:v1
declare -A HOST_IP=() HOST_NS=() HOST_PID=()
CLUSTER_HOSTS=()
CLUSTER_SERVER_HOST=
CLUSTER_REGISTRY_PIDS=()
CLUSTER_EXTRA_PIDS=()  # other processes a test or benchmark started (stopped first, by PID)
CLUSTER_CGROUPS=()
CLUSTER_MISSING=

# Whether this machine can run the harness; CLUSTER_MISSING says what is not there.
cluster_requirements() {
  local t
  if [ "$(id -u)" != 0 ]; then CLUSTER_MISSING="needs root (network namespaces, the native runtime)"; return 1; fi
  for t in ip kubectl docker-registry umoci skopeo busybox curl; do
    command -v "$t" >/dev/null || { CLUSTER_MISSING="needs $t (scripts/install-deps.sh installs it)"; return 1; }
  done
  # A VXLAN device in a throwaway namespace: the overlay needs the kernel's vxlan module.
  ip netns add "$CLUSTER_TAG-probe" 2>/dev/null || { CLUSTER_MISSING="cannot create network namespaces"; return 1; }
  if ! ip -n "$CLUSTER_TAG-probe" link add vxprobe type vxlan id 1 dstport 8472 2>/dev/null; then
    ip netns del "$CLUSTER_TAG-probe"
    CLUSTER_MISSING="the kernel has no VXLAN support"
    return 1
  fi
  ip netns del "$CLUSTER_TAG-probe"
}

# cluster_hosts NAME...: one namespace per host, each with eth0 on the test bridge.
cluster_hosts() {
  ip netns add "$CLUSTER_SWITCH"
  ip -n "$CLUSTER_SWITCH" link set lo up
  ip -n "$CLUSTER_SWITCH" link add br0 type bridge
  ip -n "$CLUSTER_SWITCH" link set br0 up
  local host n=${#CLUSTER_HOSTS[@]}
  for host in "$@"; do
    n=$((n + 1))
    HOST_NS[$host]=$CLUSTER_TAG-$host
    HOST_IP[$host]=$CLUSTER_SUBNET.$((10 + n))
    CLUSTER_HOSTS+=("$host")
    ip netns add "${HOST_NS[$host]}"
    ip -n "$CLUSTER_SWITCH" link add "v-$host" type veth peer name eth0 netns "${HOST_NS[$host]}"
    ip -n "$CLUSTER_SWITCH" link set "v-$host" master br0 up
    ip -n "${HOST_NS[$host]}" link set lo up
    ip -n "${HOST_NS[$host]}" addr add "${HOST_IP[$host]}/24" dev eth0
    ip -n "${HOST_NS[$host]}" link set eth0 up
    mkdir -p "$WORK/$host"
    cluster_make_cgroups "$host"
  done
}

# pod_netns NODE-HOST POD: the network namespace of a pod on that host (the agent pins it in its
# data dir), for tools that should run where the pod's processes do (nsenter --net=...).
pod_netns() { echo "$WORK/$1/network/netns/$(hk get pod "$2" -o jsonpath='{.metadata.uid}')"; }

# on HOST COMMAND...: runs a command inside the host's network namespace.
on() {
  local host=$1
  shift
  ip netns exec "${HOST_NS[$host]}" "$@"
}

# The host's cgroups: one directory per mounted hierarchy (cpuset is left out: a new v1 cpuset
# group has no CPUs until given some), below this shell's own group there.
cluster_make_cgroups() {
  local host=$1 line hier ctrls path mnt dir
  while IFS=: read -r hier ctrls path; do
    if [ -z "$ctrls" ]; then
      mnt=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/self/mounts)
    else
      [[ ",$ctrls," == *",cpuset,"* ]] && continue
      mnt=$(awk -v c="$ctrls" '$3 == "cgroup" { n = split($4, o, ","); for (i = 1; i <= n; i++) if (o[i] == c) { print $2; exit } }' /proc/self/mounts)
    fi
    [ -n "$mnt" ] || continue
    dir="$mnt${path%/}/$CLUSTER_TAG-$host"
    mkdir -p "$dir" 2>/dev/null || continue
    CLUSTER_CGROUPS+=("$dir")
  done </proc/self/cgroup
}

# Moves the calling (sub)shell into HOST's cgroups; what it execs stays there.
cluster_enter_cgroups() {
  local host=$1 dir
  for dir in "${CLUSTER_CGROUPS[@]}"; do
    [[ "$dir" == *"/$CLUSTER_TAG-$host" ]] && echo "$BASHPID" >"$dir/cgroup.procs" 2>/dev/null || true
  done
}

# start_in HOST LOGFILE COMMAND...: a background process in the host (namespace and cgroups);
# its PID (the command's own: the subshell execs it) is in STARTED_PID.
start_in() {
  local host=$1 log=$2
  shift 2
  (
    cluster_enter_cgroups "$host"
    # nsenter, not `ip netns exec`: that one remounts /sys for the namespace, which hides the
    # cgroup hierarchies mounted below it from the agent and its runtime.
    exec nsenter --net="/run/netns/${HOST_NS[$host]}" "$@"
  ) >>"$log" 2>&1 &
  STARTED_PID=$!
}

# stop_pid PID: SIGTERM, then wait for it (a stopped one is continued first).
stop_pid() {
  local pid=$1
  [ -n "$pid" ] || return 0
  kill -CONT "$pid" 2>/dev/null || true
  if kill -0 "$pid" 2>/dev/null; then kill "$pid" 2>/dev/null || true; fi
  wait "$pid" 2>/dev/null || true
}

# cluster_registries: the test image built once (busybox-static with httpd and a CGI script
# that fetches what it is asked for, from inside the pod), served by a docker-registry on
# 127.0.0.1:5000 in every host from one storage directory (skiff pulls plain HTTP only from
# loopback registries, as Docker does).
cluster_registries() {
  local host
  for host in "${CLUSTER_HOSTS[@]}"; do
    cat >"$WORK/registry-$host.yml" <<YAML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $WORK/registry-data}, delete: {enabled: true}}
http: {addr: 127.0.0.1:5000}
YAML
    start_in "$host" "$WORK/registry-$host.log" docker-registry serve "$WORK/registry-$host.yml"
    CLUSTER_REGISTRY_PIDS+=("$STARTED_PID")
  done
  for host in "${CLUSTER_HOSTS[@]}"; do
    wait_for "registry in $host" 10 on "$host" curl -sf http://127.0.0.1:5000/v2/ || return 1
  done
  cluster_build_image "${CLUSTER_HOSTS[0]}"
}

cluster_build_image() {
  local host=$1 bb a
  bb=$(command -v busybox)
  mkdir -p "$WORK/img/src/bin" "$WORK/img/src/www/cgi-bin" "$WORK/img/src/tmp" "$WORK/img/src/etc"
  cp "$bb" "$WORK/img/src/bin/busybox"
  for a in sh cat echo sleep ls grep hostname httpd wget ip nslookup date seq env timeout; do ln -s busybox "$WORK/img/src/bin/$a"; done
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$WORK/img/src/etc/passwd"
  printf 'root:x:0:\n' >"$WORK/img/src/etc/group"
  # GET /cgi-bin/get?HOST[:PORT]/PATH: this pod fetches http://HOST[:PORT]/PATH and answers with it.
  cat >"$WORK/img/src/www/cgi-bin/get" <<'SH'
#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
timeout 5 wget -q -O- "http://$QUERY_STRING" 2>&1 || echo "wget failed"
SH
  chmod 755 "$WORK/img/src/www/cgi-bin/get"
  (
    cd "$WORK/img"
    umoci init --layout oci >/dev/null
    umoci new --image oci:busybox >/dev/null
    umoci unpack --image oci:busybox bundle >/dev/null
    cp -a src/. bundle/rootfs/
    umoci repack --image oci:busybox bundle >/dev/null
    # Every pod answers / with its own name.
    umoci config --image oci:busybox --config.entrypoint /bin/sh --config.cmd -c \
      --config.cmd 'hostname > /www/index.html; exec httpd -f -p 8080 -h /www' --config.workingdir /www >/dev/null
    on "$host" skopeo --insecure-policy copy --dest-tls-verify=false oci:oci:busybox "docker://$CLUSTER_IMAGE" >/dev/null
  ) || { echo "could not build and push the test image"; return 1; }
}

# cluster_server HOST [flags...]: `skiff server` listening on the host's address; KUBECONFIG is
# its admin kubeconfig.
cluster_server() {
  local host=$1
  shift
  CLUSTER_SERVER_HOST=$host
  start_in "$host" "$WORK/$host.log" "$SKIFF" server --data-dir "$WORK/$host" --listen "${HOST_IP[$host]}:6443" "$@"
  HOST_PID[$host]=$STARTED_PID
  wait_for "server up" 30 grep -q "skiff server is up" "$WORK/$host.log" || { cat "$WORK/$host.log"; return 1; }
  export KUBECONFIG="$WORK/$host/kubeconfig"
}

# hk ARGS...: kubectl against the server, from the server's host.
hk() { on "$CLUSTER_SERVER_HOST" kubectl "$@"; }

# cluster_agent HOST [flags...]: `skiff agent` for node HOST (the native runtime and no mesh port unless flags
# name one), its InternalIP the host's address, joining with the server's node token (its own
# certificate through the CSR API, as a real machine joins).
cluster_agent() {
  local host=$1
  shift
  local runtime=(--runtime native) mesh=(--mesh-port 0)
  [[ " $* " == *" --runtime "* ]] && runtime=()
  [[ " $* " == *" --mesh-port "* ]] && mesh=()
  start_in "$host" "$WORK/$host.log" "$SKIFF" agent --data-dir "$WORK/$host" --server "https://${HOST_IP[$CLUSTER_SERVER_HOST]}:6443" \
    --token "$(cat "$WORK/$CLUSTER_SERVER_HOST/node-token")" --node-name "$host" \
    --node-ip "${HOST_IP[$host]}" "${runtime[@]}" "${mesh[@]}" "$@"
  HOST_PID[$host]=$STARTED_PID
}

cluster_agent_stop() {
  local host=$1
  stop_pid "${HOST_PID[$host]:-}"
  HOST_PID[$host]=
}

# cluster_ready_nodes N: true when N nodes are Ready.
cluster_ready_nodes() { [ "$(hk get nodes --no-headers 2>/dev/null | grep -c ' Ready ')" = "$1" ]; }

cluster_cleanup() {
  local host pid dir
  set +e
  for pid in "${CLUSTER_EXTRA_PIDS[@]}"; do stop_pid "$pid"; done
  # Agents first (they stop their pods), then the server, then the registries.
  for host in "${CLUSTER_HOSTS[@]}"; do
    [ "$host" = "$CLUSTER_SERVER_HOST" ] || stop_pid "${HOST_PID[$host]:-}"
  done
  [ -n "$CLUSTER_SERVER_HOST" ] && stop_pid "${HOST_PID[$CLUSTER_SERVER_HOST]:-}"
  for pid in "${CLUSTER_REGISTRY_PIDS[@]}"; do stop_pid "$pid"; done
  # Whatever still runs in the hosts' cgroups was started by this test (containers of a killed
  # agent): SIGKILL it.
  for dir in "${CLUSTER_CGROUPS[@]}"; do
    find "$dir" -name cgroup.procs 2>/dev/null | while read -r f; do
      while read -r pid; do kill -9 "$pid" 2>/dev/null; done <"$f"
    done
  done
  { grep -o " $WORK[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  for host in "${CLUSTER_HOSTS[@]}"; do ip netns del "${HOST_NS[$host]}" 2>/dev/null; done
  ip netns del "$CLUSTER_SWITCH" 2>/dev/null
  # Children first; a group is removable once its processes are gone (give SIGKILL a moment).
  for dir in "${CLUSTER_CGROUPS[@]}"; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      find "$dir" -depth -type d -exec rmdir {} \; 2>/dev/null
      [ -d "$dir" ] || break
      sleep 0.2
    done
  done
  set -e
}
trap 'cluster_cleanup; cleanup' EXIT
