// Field schema of the served kinds: each field's type, and for lists of objects the merge key that
// strategic merge patch uses. One table drives three jobs: rejecting wrong types with the field
// path, handling unknown fields per fieldValidation (Strict rejects, Warn drops with a warning,
// Ignore drops), and merging lists by key in strategic merge patches.
//
// Subtrees typed `any` are kept as given (structures skiff does not interpret yet).
#pragma once
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/fwd.hpp>

#include "common/result.h"

namespace skiff::api {

struct TypeDef;

struct TypeRef {
  enum class Kind { String, Int, Bool, Number, IntOrString, Quantity, Time, Any, Map, List, Object };
  Kind kind = Kind::Any;
  const TypeDef* object = nullptr;     // Kind::Object
  std::shared_ptr<TypeRef> element;    // Kind::List and Kind::Map
  std::string mergeKey;                // Kind::List of objects merged by this key in SMP
};

struct TypeDef {
  std::string name;
  std::map<std::string, TypeRef, std::less<>> fields;
  bool openEnded = false;  // `*` in the table: fields not listed are kept untyped
  const TypeRef* field(std::string_view name) const;
};

// The root type of a kind ("Pod", "Deployment", ...), or nullptr if skiff has no schema for it.
const TypeRef* schemaForKind(std::string_view kind);

enum class FieldValidation { Ignore, Warn, Strict };

struct SchemaReport {
  std::vector<FieldCause> typeErrors;      // wrong JSON type at a path
  std::vector<std::string> unknownFields;  // paths of fields the schema does not know
};

// Checks `object` against `type`. Unknown fields are removed unless `mode` is Strict (the caller
// rejects then). Integral floats in integer fields are normalised to integers.
SchemaReport checkSchema(const TypeRef& type, boost::json::value& object, FieldValidation mode);

}  // namespace skiff::api
