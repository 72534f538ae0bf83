#!/usr/bin/env bash
# Installs the Debian packages skiff needs to build, test and benchmark.
# Idempotent: packages already present are skipped, so a warm machine pays nothing.
set -euo pipefail

build_pkgs=(g++ cmake ninja-build ccache pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libyaml-dev libsqlite3-dev libssl-dev zlib1g-dev libseccomp-dev libnghttp2-dev
  libgtest-dev libgmock-dev libbenchmark-dev clang libclang-rt-14-dev
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc libgit2-dev)
# Real peers used by tests and benchmarks.
peer_pkgs=(etcd-server etcd-client curl python3 prometheus
  docker-registry skopeo umoci runc busybox-static iproute2 hyperfine jq chromium nghttp2-client python3-grpcio
  nginx haproxy wrk faketime python3-kubernetes git)  # the proxy benchmarks start their own nginx and HAProxy; the services need not run

missing=()
for p in "${build_pkgs[@]}" "${peer_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# kubectl ships with the machine image; it is not a Debian package here.
command -v kubectl >/dev/null || echo "note: kubectl not found; the kubectl end-to-end tests will be skipped" >&2

if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
echo "install-deps: installing ${missing[*]}" >&2
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y --no-install-recommends "${missing[@]}" >/tmp/skiff-apt.log 2>&1; then
  $SUDO apt-get update >>/tmp/skiff-apt.log 2>&1
  $SUDO apt-get install -y --no-install-recommends "${missing[@]}" >>/tmp/skiff-apt.log 2>&1 || {
    tail -20 /tmp/skiff-apt.log >&2; echo "install-deps: apt-get failed (log: /tmp/skiff-apt.log)" >&2; exit 1; }
fi
