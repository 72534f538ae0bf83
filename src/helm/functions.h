// The template functions Helm charts call: the sprig subset charts use in practice, and Helm's own
// (include, tpl, required, fail, toYaml/fromYaml/toJson/fromJson, lookup).
#pragma once
#include <functional>

#include "helm/template.h"

namespace skiff::helm {

// `lookup apiVersion kind namespace name`: an object, a list ({"items": [...]}) when name is empty,
// or an empty map when nothing is found. `helm template` has no cluster: pass nullptr.
using LookupFunction = std::function<Result<Value>(const std::string& apiVersion, const std::string& kind,
                                                  const std::string& ns, const std::string& name)>;

FunctionMap sprigFunctions();
FunctionMap helmFunctions(LookupFunction lookup);

// Values decoded from YAML: numbers become float64 as Go's yaml→json decoding makes them, so
// {{ .Values.n }} prints as Helm prints it (1e+06 for a million) and `eq` follows Go's type rules.
Value asHelmValues(const Value& decoded);

}  // namespace skiff::helm
