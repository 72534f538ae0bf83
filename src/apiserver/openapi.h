// OpenAPI: a v3 document per group/version (the operations of each resource with their
// group-version-kind and query parameters, and the schemas of its kinds) and one v2 document
// with every kind's schema. kubectl reads v3 to learn that the server validates fields itself
// (fieldValidation) and accepts strategic merge patches, and `kubectl explain` reads the
// schemas. Custom kinds carry their definitions' schemas; built-in kinds the field table that
// validates them (api/schema.h), with its merge keys as x-kubernetes-patch-merge-key; subtrees
// that table leaves untyped are open objects.
#pragma once
#include <optional>
#include <string>

#include <boost/json/value.hpp>

#include "apiserver/custom_resources.h"

namespace skiff::apiserver {

// GET /openapi/v3
boost::json::value openApiV3Root(const CustomResources* custom);
// GET /openapi/v3/<path>, e.g. "api/v1" or "apis/apps/v1"; nullopt if not served.
std::optional<boost::json::value> openApiV3Document(const std::string& groupVersionPath, const CustomResources* custom);
// GET /openapi/v2 (JSON; the definitions only)
boost::json::value openApiV2Document(const CustomResources* custom);

}  // namespace skiff::apiserver
