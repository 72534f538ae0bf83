// Structural schemas: the openAPIV3Schema of a CustomResourceDefinition version, compiled once
// when the definition is accepted and then used for every object of that kind, as
// apiextensions-apiserver does:
//   - compileSchema refuses schemas that are not structural (every field typed, arrays with
//     items, properties and additionalProperties not both) with field paths, as Kubernetes does;
//   - pruneUnknown drops fields the schema does not know (unless x-kubernetes-preserve-unknown-fields);
//   - applySchemaDefaults fills `default`s where a field is missing and its parent exists;
//   - validateValue applies the OpenAPI v3 value validations (type, nullable, enum, format,
//     minimum/maximum, lengths, pattern, items, properties, uniqueItems and list types, allOf /
//     anyOf / oneOf / not) and returns every violation with its path.
//
// Patterns use ECMAScript regular expressions (std::regex): RE2 features it lacks (such as
// `(?i)`) make compileSchema refuse the schema with the reason, never skip the check. A string
// longer than kMaxPatternSubject is refused rather than matched (std::regex recurses per
// character). Formats checked: date-time, date, byte, ipv4, ipv6, cidr, uuid, hostname, mac,
// int32, int64; other formats are accepted as Kubernetes accepts unknown ones.
// x-kubernetes-validations (CEL) rules are not evaluated: compileSchema reports them in
// `unevaluatedRules` so the definition's status can say so.
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "common/result.h"

namespace skiff::api {

inline constexpr size_t kMaxPatternSubject = 2048;

struct StructuralSchema {
  enum class Type { Unset, Object, Array, String, Integer, Number, Boolean };
  Type type = Type::Unset;
  std::string description;
  bool nullable = false;
  bool intOrString = false;        // x-kubernetes-int-or-string
  bool preserveUnknown = false;    // x-kubernetes-preserve-unknown-fields
  bool embeddedResource = false;   // x-kubernetes-embedded-resource: apiVersion, kind, metadata kept
  std::string format;
  std::map<std::string, StructuralSchema, std::less<>> properties;
  std::shared_ptr<StructuralSchema> items;                 // arrays
  std::shared_ptr<StructuralSchema> additionalProperties;  // maps (a schema for every value)
  std::vector<std::string> required;
  std::vector<boost::json::value> enumValues;
  std::optional<double> minimum, maximum, multipleOf;
  bool exclusiveMinimum = false, exclusiveMaximum = false;
  std::optional<int64_t> minLength, maxLength, minItems, maxItems, minProperties, maxProperties;
  std::string pattern;
  std::shared_ptr<const std::regex> patternRegex;
  bool uniqueItems = false;
  std::string listType;                  // x-kubernetes-list-type: atomic, set, map
  std::vector<std::string> listMapKeys;  // x-kubernetes-list-map-keys
  std::optional<boost::json::value> defaultValue;
  std::vector<StructuralSchema> allOf, anyOf, oneOf;
  std::shared_ptr<StructuralSchema> notSchema;
};

struct CompiledSchema {
  std::shared_ptr<const StructuralSchema> root;
  std::vector<std::string> unevaluatedRules;  // paths of x-kubernetes-validations skiff does not run
};

// `path` prefixes the field paths of the refusals (e.g. spec.versions[0].schema.openAPIV3Schema).
Result<CompiledSchema> compileSchema(const boost::json::value& openAPIV3Schema, const std::string& path);

// Removes fields the schema does not know; their paths are appended to `pruned`. At the root
// apiVersion, kind and metadata are always kept.
void pruneUnknown(const StructuralSchema& schema, boost::json::value& object, std::vector<std::string>& pruned);

void applySchemaDefaults(const StructuralSchema& schema, boost::json::value& object);

// Every violation of `schema` by `value`, with field paths under `path` ("" at the root).
std::vector<FieldCause> validateValue(const StructuralSchema& schema, const boost::json::value& value,
                                      const std::string& path = "");

// The value at a simple JSONPath (`.spec.replicas`, `.status.conditions[0].type`), or nullptr.
const boost::json::value* valueAtJsonPath(const boost::json::value& object, std::string_view jsonPath);

}  // namespace skiff::api
