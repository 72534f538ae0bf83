# The demo shop (examples/shop) on the native runtime: the image built at build time, service
# discovery through the service environment, the Gateway's routes and 90/10 catalog canary, and
# self-healing. Root only (namespaces, a bridge).
source "$(dirname "$0")/lib.sh"
IMAGE_DIR=$(dirname "$SKIFF")/shop-image
if [ "$(id -u)" != 0 ] || [ ! -f "$IMAGE_DIR/index.json" ]; then
  echo "skipped: needs root and the shop image (built with the project when umoci is installed)"
  exit 0
fi
EXAMPLES=$(cd "$(dirname "$0")/../../examples/shop" && pwd)
BRIDGE=sks$$
cleanup_shop() {
  if [ -n "$SKIFF_PID" ] && kill -0 "$SKIFF_PID" 2>/dev/null; then kill "$SKIFF_PID"; wait "$SKIFF_PID" 2>/dev/null || true; fi
  { grep -o " $WORK[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  ip link del "$BRIDGE" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup_shop EXIT
GW_PORT=$(free_port)

start_skiff --runtime native --bridge "$BRIDGE" --pod-cidr 10.212.0.0/24
check "the shop image imports" bash -c "'$SKIFF' image import '$IMAGE_DIR' --name skiff.local/shop:1.0 | grep -q skiff.local/shop:1.0"
sed "s/port: 8088/port: $GW_PORT/" "$EXAMPLES/shop.yaml" | kubectl apply -f - >/dev/null
check "the shop applies" kubectl apply -f "$EXAMPLES/deployments.yaml"
ready() { [ "$(kubectl get deploy -n shop "$1" -o jsonpath='{.status.readyReplicas}')" = "$2" ]; }
for d in catalog-v1:2 catalog-v2:1 cart:1 orders:1 frontend:2; do
  check "$d ready" wait_for "${d%%:*}" 60 ready "${d%%:*}" "${d##*:}"
done
GW=http://127.0.0.1:$GW_PORT
out=$(curl -s --max-time 5 "$GW/")
check "the frontend page is built from catalog and cart (found through the service environment)" bash -c "grep -q 'catalog: {\"version\"' <<<'$out' && grep -q 'cart: {\"items\"' <<<'$out'"
check "POST to the cart through the gateway" bash -c "curl -s -X POST $GW/api/cart | grep -q '\"items\":1'"
out=$(curl -s $(printf "$GW/api/products %.0s" $(seq 1 1000)))
v2=$(grep -o '"version":"v2"' <<<"$out" | wc -l)
check "the catalog canary gets about 10% ($v2 of 1000)" test "$v2" -ge 60 -a "$v2" -le 140
POD=$(kubectl get pods -n shop -l app=cart -o jsonpath='{.items[0].metadata.name}')
kubectl delete pod -n shop "$POD" --wait=false >/dev/null
check "a killed cart pod is replaced and the cart answers again" wait_for "cart healed" 60 bash -c "curl -sf --max-time 2 $GW/api/cart >/dev/null && [ \"\$(kubectl get pods -n shop -l app=cart -o jsonpath='{.items[*].metadata.name}')\" != '$POD' ]"
check "the frontend's HPA exists" kubectl get hpa -n shop frontend
finish
