// Fuzz target: manifest decoding and the whole admission path a bad manifest can reach
// (schema check, defaults, validation, YAML re-encoding). Must never crash or hang.
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "api/admission.h"
#include "api/codec.h"
#include "api/resources.h"
#include "api/schema.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace skiff::api;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto docs = decodeManifests(text);
  if (!docs) return 0;
  for (auto& doc : *docs) {
    std::string yaml = toYaml(doc);
    (void)decodeManifests(yaml);
    for (const auto& type : builtinResources()) {
      boost::json::value copy = doc;
      if (const TypeRef* schema = schemaForKind(type.kind)) (void)checkSchema(*schema, copy, FieldValidation::Warn);
      applyDefaults(type, copy);
      (void)validateObject(type, copy, &doc);
    }
  }
  return 0;
}
