#!/usr/bin/env bash
# Request latency across the pod network (issue 19): the same client (wrk, one connection, so each
# figure is one request's round trip) against the same server (nginx, 1 worker, `return 200 ok`,
# kept-alive) placed at the end of each path, in one run, interleaved:
#   host-direct         h1's host namespace -> h2's host namespace (eth0 to eth0: the peer, no overlay)
#   pod-same-node       client pod on h1 -> a pod on h1 by pod IP (veth, bridge, veth)
#   pod-other-node      client pod on h1 -> a pod on h2 by pod IP (veth, bridge, VXLAN, bridge, veth)
#   service-other-node  client pod on h1 -> a Service whose one endpoint is the pod on h2 (h1's node
#                       proxy accepts on the cluster IP and forwards over the overlay; with MESH=1, the
#                       default, through h2's node proxy over mTLS with SPIFFE identities, as Istio
#                       ambient's two hops)
# Hosts are network namespaces on a test bridge (tests/e2e/cluster_lib.sh): `skiff server` and two
# `skiff agent`s with the native runtime. wrk and nginx run inside the pods' network namespaces
# (nsenter --net), so packets take exactly the pods' path. Servers on CPU 0, wrk on CPU 1.
# Usage: bench/run-pod-network.sh [build/skiff]   (REPS, DUR, CONNS env)
set -euo pipefail
REPS=${REPS:-3}
DUR=${DUR:-5}
CONNS=${CONNS:-1}
MESH=${MESH:-1}
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../tests/e2e/lib.sh" "${1:-build/skiff}"
source "$HERE/../tests/e2e/cluster_lib.sh"
source "$HERE/stats.sh"  # to_ms, median
cluster_requirements || { echo "needs: $CLUSTER_MISSING" >&2; exit 1; }
need() { command -v "$1" >/dev/null || { echo "needs $1 (apt-get install nginx wrk)" >&2; exit 1; }; }
need nginx; need wrk; need taskset
echo "# skiff pod network latency, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# wrk -t1 -c$CONNS -d${DUR}s against nginx (1 worker), $REPS interleaved runs, kernel $(uname -r), mesh=$MESH"

cluster_hosts cp h1 h2
cluster_registries
cluster_server cp --service-cidr 10.96.0.0/16
MESH_FLAGS=()
[ "$MESH" = 1 ] && MESH_FLAGS=(--mesh-port 15008)
cluster_agent h1 "${MESH_FLAGS[@]}"
cluster_agent h2 "${MESH_FLAGS[@]}"
wait_for "nodes" 60 cluster_ready_nodes 2
hk apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  nodeSelector: {kubernetes.io/hostname: h1}
  containers: [{name: c, image: $CLUSTER_IMAGE}]
---
apiVersion: v1
kind: Pod
metadata: {name: near, labels: {app: near}}
spec:
  nodeSelector: {kubernetes.io/hostname: h1}
  containers: [{name: c, image: $CLUSTER_IMAGE}]
---
apiVersion: v1
kind: Pod
metadata: {name: far, labels: {app: far}}
spec:
  nodeSelector: {kubernetes.io/hostname: h2}
  containers: [{name: c, image: $CLUSTER_IMAGE, readinessProbe: {tcpSocket: {port: 18080}, periodSeconds: 1}}]
---
apiVersion: v1
kind: Service
metadata: {name: far}
spec:
  selector: {app: far}
  ports: [{port: 80, targetPort: 18080}]
YAML
running() { [ "$(hk get pods --no-headers 2>/dev/null | grep -c Running)" = 3 ]; }
wait_for "pods" 90 running || { hk get pods -o wide >&2; exit 1; }

# nginx_in NAME NETNS-PATH: a server in that network namespace, on CPU 0.
nginx_in() {
  local name=$1 ns=$2
  mkdir -p "$WORK/nginx-$name/tmp"
  cat >"$WORK/nginx-$name/nginx.conf" <<CONF
worker_processes 1; daemon off; pid $WORK/nginx-$name/nginx.pid; error_log $WORK/nginx-$name/error.log warn;
events { worker_connections 1024; }
http { access_log off; keepalive_timeout 300; keepalive_requests 100000000;
  client_body_temp_path $WORK/nginx-$name/tmp/body; proxy_temp_path $WORK/nginx-$name/tmp/proxy;
  fastcgi_temp_path $WORK/nginx-$name/tmp/fcgi; uwsgi_temp_path $WORK/nginx-$name/tmp/uwsgi; scgi_temp_path $WORK/nginx-$name/tmp/scgi;
  server { listen 18080; location / { return 200 "ok"; } } }
CONF
  nsenter --net="$ns" taskset -c 0 nginx -c "$WORK/nginx-$name/nginx.conf" -e "$WORK/nginx-$name/error.log" &
  CLUSTER_EXTRA_PIDS+=($!)
}
nginx_in host "/run/netns/${HOST_NS[h2]}"
nginx_in near "$(pod_netns h1 near)"
nginx_in far "$(pod_netns h2 far)"
CLIENT_NS=$(pod_netns h1 client)
HOST1_NS=/run/netns/${HOST_NS[h1]}
NEAR=$(hk get pod near -o jsonpath='{.status.podIP}')
FAR=$(hk get pod far -o jsonpath='{.status.podIP}')
SVC=$(hk get svc far -o jsonpath='{.spec.clusterIP}')
NAMES=(host-direct pod-same-node pod-other-node service-other-node)
FROM=("$HOST1_NS" "$CLIENT_NS" "$CLIENT_NS" "$CLIENT_NS")
URLS=("http://${HOST_IP[h2]}:18080/" "http://$NEAR:18080/" "http://$FAR:18080/" "http://$SVC/")
for i in "${!NAMES[@]}"; do
  wait_for "${NAMES[$i]} answers" 30 bash -c "[ \"\$(nsenter --net='${FROM[$i]}' curl -s -m 1 '${URLS[$i]}')\" = ok ]" ||
    { echo "${NAMES[$i]}: nothing answers ok at ${URLS[$i]}" >&2; exit 1; }
  nsenter --net="${FROM[$i]}" taskset -c 1 wrk -t1 -c"$CONNS" -d1s "${URLS[$i]}" >/dev/null
done
for r in $(seq 1 "$REPS"); do
  for i in "${!NAMES[@]}"; do
    n=${NAMES[$i]}
    out=$(nsenter --net="${FROM[$i]}" taskset -c 1 wrk -t1 -c"$CONNS" -d"${DUR}s" --latency "${URLS[$i]}")
    rps=$(awk '/^Requests\/sec:/{print $2}' <<<"$out")
    p50=$(to_ms "$(awk '$1=="50%"{print $2}' <<<"$out")")
    p99=$(to_ms "$(awk '$1=="99%"{print $2}' <<<"$out")")
    echo "$rps" >>"$WORK/$n.rps"; echo "$p50" >>"$WORK/$n.p50"; echo "$p99" >>"$WORK/$n.p99"
    printf "run %d %-20s rps=%-10s p50=%-6s p99=%-6s %s\n" "$r" "$n" "$rps" "$p50" "$p99" "$(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr -s ' ' | tr '\n' ' ')"
  done
done
echo
printf "%-20s %10s %8s %8s %14s %14s\n" path rps p50_ms p99_ms "+p50 vs host" "+p99 vs host"
h50=$(median <"$WORK/host-direct.p50"); h99=$(median <"$WORK/host-direct.p99")
for n in "${NAMES[@]}"; do
  m50=$(median <"$WORK/$n.p50"); m99=$(median <"$WORK/$n.p99")
  printf "%-20s %10.0f %8s %8s %14s %14s\n" "$n" "$(median <"$WORK/$n.rps")" "$m50" "$m99" \
    "$(awk -v a="$m50" -v b="$h50" 'BEGIN{printf "%+.3f", a-b}')" "$(awk -v a="$m99" -v b="$h99" 'BEGIN{printf "%+.3f", a-b}')"
done
