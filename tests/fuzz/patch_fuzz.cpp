// Fuzz target: the three patch formats. Input: a JSON document, a newline, a JSON patch.
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "api/codec.h"
#include "api/patch.h"
#include "api/schema.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace skiff::api;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto nl = text.find('\n');
  if (nl == std::string_view::npos) return 0;
  auto doc = decodeJson(text.substr(0, nl));
  auto patch = decodeJson(text.substr(nl + 1));
  if (!doc || !patch) return 0;
  (void)applyJsonPatch(*doc, *patch);
  boost::json::value merged = applyMergePatch(*doc, *patch);
  (void)createMergePatch(*doc, merged);
  for (const char* kind : {"Pod", "Deployment", "Service"}) (void)applyStrategicMergePatch(*doc, *patch, schemaForKind(kind));
  return 0;
}
