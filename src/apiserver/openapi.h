// A minimal OpenAPI v3 document per group/version: the operations of each resource with their
// group-version-kind and query parameters. kubectl reads it to learn that the server validates
// fields itself (fieldValidation) and accepts strategic merge patches; it carries no schemas yet,
// so kubectl falls back to its built-in patch metadata.
#pragma once
#include <optional>
#include <string>

#include <boost/json/value.hpp>

namespace skiff::apiserver {

// GET /openapi/v3
boost::json::value openApiV3Root();
// GET /openapi/v3/<path>, e.g. "api/v1" or "apis/apps/v1"; nullopt if not served.
std::optional<boost::json::value> openApiV3Document(const std::string& groupVersionPath);

}  // namespace skiff::apiserver
