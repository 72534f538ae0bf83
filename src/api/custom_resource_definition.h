// CustomResourceDefinition (apiextensions.k8s.io/v1): its defaults, its validation, and the
// ResourceTypes it makes, read once from the stored object.
#pragma once
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "api/resources.h"
#include "common/result.h"

namespace skiff::api {

inline constexpr const char* kCustomResourceCleanupFinalizer = "customresourcecleanup.apiextensions.k8s.io";

struct DefinitionTypes {
  std::vector<ResourceType> versions;        // every version, in the definition's order
  size_t storage = 0;                        // index of the storage version in `versions`
  std::vector<bool> served;                  // per version
  std::vector<std::string> unevaluatedRules;  // x-kubernetes-validations skiff does not run (paths)
};

// Kubernetes' defaults: singular and listKind from the kind, conversion None, printer column priority.
void defaultCustomResourceDefinition(boost::json::value& crd);

// Every reason Kubernetes would refuse the definition, with field paths (empty when valid).
std::vector<FieldCause> validateCustomResourceDefinition(const boost::json::value& crd);

// The kinds a valid definition serves; fails with the validation causes otherwise.
Result<DefinitionTypes> customResourceTypes(const boost::json::value& crd);

}  // namespace skiff::api
