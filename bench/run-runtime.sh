#!/usr/bin/env bash
# Runtime figures (issue 3), each beside its peer in the same run:
#   pod start (create -> Running, native runtime: namespaces, cgroup limits, overlay rootfs, pod
#   network) over 200 pods, against `runc run` of the same busybox bundle alone (hyperfine);
#   100 pods at once -> all Ready, and skiff's resident memory with them running;
#   image pull of a multi-layer image from a local docker-registry, against `skopeo copy`.
# Needs root. Usage: bench/run-runtime.sh [build/skiff] [build/bench/skiff_bench]
set -euo pipefail
SKIFF=$(readlink -f "${1:-build/skiff}")
BENCH=$(readlink -f "${2:-build/bench/skiff_bench}")
W=$(mktemp -d -t skiff-bench-rt.XXXXXX)
BRIDGE=skb$$
PID= REG_PID=
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  [ -n "$REG_PID" ] && kill "$REG_PID" 2>/dev/null && wait "$REG_PID" 2>/dev/null
  { grep -o " $W[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  ip link del "$BRIDGE" 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
median() { sort -g | awk '{a[NR]=$1} END{ if(NR%2) print a[(NR+1)/2]; else printf "%.3f\n",(a[NR/2]+a[NR/2+1])/2 }'; }
echo "# skiff runtime benchmarks, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), runc $(runc --version | awk 'NR==1{print $3}')"

# --- a busybox image (OCI layout via umoci) and the same rootfs as a runc bundle -------------
BB=$(command -v busybox)
mkdir -p "$W/src/bin" "$W/src/tmp"
cp "$BB" "$W/src/bin/busybox"
for a in sh true sleep cat echo; do ln -s busybox "$W/src/bin/$a"; done
(cd "$W" && umoci init --layout oci >/dev/null && umoci new --image oci:bench >/dev/null && umoci unpack --image oci:bench bundle >/dev/null \
  && cp -a src/. bundle/rootfs/ && umoci repack --image oci:bench bundle >/dev/null)
mkdir -p "$W/runc/rootfs"
cp -a "$W/src/." "$W/runc/rootfs/"
mkdir -p "$W/runc/rootfs/proc" "$W/runc/rootfs/dev" "$W/runc/rootfs/sys"
(cd "$W/runc" && runc spec && jq '.process.terminal=false | .process.args=["/bin/true"]' config.json >c.json && mv c.json config.json)

# --- pod start: skiff, then runc alone, interleaved twice ----------------------------------------
"$SKIFF" up --data-dir "$W/data" --listen 127.0.0.1:16995 --runtime native --bridge "$BRIDGE" --pod-cidr 10.215.0.0/16 >"$W/up.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do grep -q "skiff is up" "$W/up.log" 2>/dev/null && break; sleep 0.05; done
export KUBECONFIG=$W/data/kubeconfig
"$SKIFF" image import "$W/oci" --name local/bench:v1 >/dev/null
for round in 1 2; do
  echo "## round $round: pod start, create -> Running (200 pods, one at a time)"
  "$BENCH" pod-start --kubeconfig "$KUBECONFIG" --count 200 | tee -a "$W/podstart.json"
  echo "## round $round: runc run of the same rootfs alone (hyperfine, 100 runs)"
  hyperfine -N --style none --warmup 5 --runs 100 --export-json "$W/hf.$round.json" \
    "runc --root $W/runc-state run --bundle $W/runc bench-$$" >/dev/null 2>&1
  jq -r '.results[0] | "{\"mode\":\"runc-run\",\"median_ms\":\(.median*1000*100|round/100),\"mean_ms\":\(.mean*1000*100|round/100)}"' "$W/hf.$round.json" \
    | tee -a "$W/runc.json"
  sleep 2  # let the deletions of the last round finish
done
for _ in $(seq 1 50); do [ -z "$("$SKIFF" get pods -o name 2>/dev/null)" ] && break; sleep 0.2; done
echo "{\"mode\":\"leaks-after-400-pod-cycles\",\"mounts\":$(grep -c " $W/data/pods" /proc/mounts || true),\"veths\":$(ip -o link show master "$BRIDGE" | wc -l),\"netns_files\":$(ls "$W/data/network/netns" | wc -l),\"address_leases\":$(ls "$W/data/network/ips" | wc -l),\"pod_dirs\":$(ls "$W/data/pods" | wc -l),\"cgroups\":$(find /sys/fs/cgroup -path '*/skiff/*' -maxdepth 6 -type d 2>/dev/null | wc -l)}"
p50=$(jq -r .p50_ms "$W/podstart.json" | median)
runc=$(jq -r .median_ms "$W/runc.json" | median)
echo "{\"mode\":\"pod-start-vs-runc\",\"skiff_p50_ms\":$p50,\"runc_run_median_ms\":$runc,\"ratio\":$(awk -v a="$p50" -v b="$runc" 'BEGIN{printf "%.2f", a/b}')}"

echo "## 100 pods at once -> all Ready; resident memory with them running"
"$BENCH" pod-burst --kubeconfig "$KUBECONFIG" --count 100
sleep 1
echo "{\"mode\":\"rss-100-pods\",\"skiff_rss_mib\":$(awk '/^VmRSS:/{printf "%.1f", $2/1024}' /proc/$PID/status),\"note\":\"whole skiff process: API, store, controllers, scheduler, agent\"}"
"$SKIFF" delete pod --all --wait=false >/dev/null 2>&1 || true
for _ in $(seq 1 100); do [ -z "$("$SKIFF" get pods -o name 2>/dev/null)" ] && break; sleep 0.2; done

# --- image pull vs skopeo: 5 layers of 4 MiB of random bytes each ------------------------------
# Both download and verify every blob; skiff unpacks layers later, at first use.
REG=127.0.0.1:16994
printf 'version: 0.1\nlog: {level: error}\nstorage: {filesystem: {rootdirectory: %s/reg}}\nhttp: {addr: %s}\n' "$W" "$REG" >"$W/reg.yml"
docker-registry serve "$W/reg.yml" >"$W/reg.log" 2>&1 &
REG_PID=$!
for _ in $(seq 1 50); do curl -sf "http://$REG/v2/" >/dev/null && break; sleep 0.1; done
# Five gzip layers of 4 MiB of random bytes each, as an OCI layout (umoci repack would squash them).
python3 - "$W/multi" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
out = sys.argv[1]
os.makedirs(out + "/blobs/sha256", exist_ok=True)
def blob(data):
    d = hashlib.sha256(data).hexdigest()
    open(out + "/blobs/sha256/" + d, "wb").write(data)
    return "sha256:" + d, len(data)
layers, diffs = [], []
for i in range(5):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as t:
        data = os.urandom(4 << 20)
        info = tarfile.TarInfo("data/layer%d.bin" % i); info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    diffs.append("sha256:" + hashlib.sha256(raw.getvalue()).hexdigest())
    d, n = blob(gzip.compress(raw.getvalue(), compresslevel=1))
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": n})
cd, cn = blob(json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                          "rootfs": {"type": "layers", "diff_ids": diffs}}).encode())
md, mn = blob(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                          "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn},
                          "layers": layers}).encode())
open(out + "/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
open(out + "/index.json", "w").write(json.dumps({"schemaVersion": 2, "manifests": [
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": mn, "annotations": {"org.opencontainers.image.ref.name": "multi"}}]}))
PY
skopeo --insecure-policy copy --dest-tls-verify=false "oci:$W/multi:multi" "docker://$REG/bench/multi:v1" >/dev/null
layers=$(skopeo inspect --tls-verify=false "docker://$REG/bench/multi:v1" | jq '.Layers|length')
for round in 1 2 3 4 5; do
  "$SKIFF" image rm "$REG/bench/multi:v1" >/dev/null 2>&1 || true
  "$SKIFF" image prune >/dev/null
  t0=$(date +%s%N)
  "$SKIFF" image pull "$REG/bench/multi:v1" >/dev/null
  t1=$(date +%s%N)
  rm -rf "$W/skopeo-out"
  skopeo --insecure-policy copy --src-tls-verify=false "docker://$REG/bench/multi:v1" "oci:$W/skopeo-out:multi" >/dev/null
  t2=$(date +%s%N)
  echo "$(( (t1 - t0) / 1000 ))" >>"$W/pull.skiff"
  echo "$(( (t2 - t1) / 1000 ))" >>"$W/pull.skopeo"
done
s=$(median <"$W/pull.skiff"); k=$(median <"$W/pull.skopeo")
echo "{\"mode\":\"image-pull\",\"layers\":$layers,\"mib\":$(du -sm "$W/skopeo-out" | cut -f1),\"skiff_median_ms\":$(awk -v v="$s" 'BEGIN{printf "%.1f", v/1000}'),\"skopeo_copy_median_ms\":$(awk -v v="$k" 'BEGIN{printf "%.1f", v/1000}'),\"ratio\":$(awk -v a="$s" -v b="$k" 'BEGIN{printf "%.2f", a/b}')}"
