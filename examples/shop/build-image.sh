#!/usr/bin/env bash
# Builds the shop's OCI image layout: busybox-static plus the static shop binary, made with
# umoci (no downloads). The build runs it; `skiff image import OUT --name skiff.local/shop:1.0`
# makes it runnable. Usage: build-image.sh SHOP_BINARY OUT_DIR
set -euo pipefail
BIN=$(readlink -f "$1")
OUT=$2
BB=$(command -v busybox || true)
if ! command -v umoci >/dev/null || [ -z "$BB" ]; then
  echo "shop image skipped: needs umoci and busybox-static (scripts/install-deps.sh installs them)"
  exit 0
fi
TMP=$(mktemp -d "${OUT%/}.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP/rootfs/bin" "$TMP/rootfs/etc" "$TMP/rootfs/tmp"
cp "$BB" "$TMP/rootfs/bin/busybox"
for a in sh ls cat wget sleep ps env; do ln -s busybox "$TMP/rootfs/bin/$a"; done
cp "$BIN" "$TMP/rootfs/bin/shop"
printf 'root:x:0:0:root:/:/bin/sh\nshop:x:1000:1000:shop:/:/bin/sh\n' >"$TMP/rootfs/etc/passwd"
printf 'root:x:0:\nshop:x:1000:\n' >"$TMP/rootfs/etc/group"
ROOTLESS=()
[ "$(id -u)" = 0 ] || ROOTLESS=(--rootless)
(
  cd "$TMP"
  umoci init --layout oci
  umoci new --image oci:shop
  umoci insert "${ROOTLESS[@]}" --image oci:shop rootfs /
  umoci config --image oci:shop --config.entrypoint /bin/shop --config.user shop --config.exposedports 8080/tcp \
    --config.env PORT=8080 --config.label org.opencontainers.image.title=skiff-shop
) >/dev/null
rm -rf "$OUT"
mv "$TMP/oci" "$OUT"
echo "shop image: $OUT"
