// Fuzz target: release records as any writer of a Secret could leave them (data.release after
// the Secret's own base64: base64 of gzip'd or plain JSON). Bad data must come back as an error;
// a record that decodes must encode and decode again (what upgrade and rollback do with it).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/base64.h"
#include "helm/kube.h"
#include "helm/release.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace skiff::helm;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  (void)decodeRelease(bytes);  // not even base64
  auto r = decodeRelease(skiff::base64Encode(bytes));
  if (!r.ok()) return 0;
  (void)splitManifest(r->manifest);
  auto again = decodeRelease(encodeRelease(*r));
  if (!again.ok() || again->name != r->name || again->version != r->version) std::abort();
  return 0;
}
