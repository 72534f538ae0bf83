// Fuzz target: structural schemas. Input: a JSON schema, a newline, a JSON value; the schema is
// compiled, and if structural the value is validated, pruned and defaulted by it.
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "api/codec.h"
#include "api/structural_schema.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace skiff::api;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto nl = text.find('\n');
  if (nl == std::string_view::npos) return 0;
  auto schema = decodeJson(text.substr(0, nl));
  auto value = decodeJson(text.substr(nl + 1));
  if (!schema || !value) return 0;
  auto compiled = compileSchema(*schema, "schema");
  if (!compiled) return 0;
  (void)validateValue(*compiled->root, *value);
  std::vector<std::string> pruned;
  pruneUnknown(*compiled->root, *value, pruned);
  applySchemaDefaults(*compiled->root, *value);
  (void)validateValue(*compiled->root, *value);
  (void)valueAtJsonPath(*value, std::string_view(text.data(), std::min<size_t>(nl, 64)));
  return 0;
}
