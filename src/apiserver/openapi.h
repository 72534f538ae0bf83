// A minimal OpenAPI v3 document per group/version: the operations of each resource with their
// group-version-kind and query parameters. kubectl reads it to learn that the server validates
// fields itself (fieldValidation) and accepts strategic merge patches. Custom kinds carry their
// definitions' schemas (so `kubectl explain` works on them); built-in kinds carry none yet, so
// kubectl falls back to its built-in patch metadata.
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

}  // namespace skiff::apiserver
