#include "apiserver/openapi.h"

#include <boost/json.hpp>

#include "api/resources.h"

namespace skiff::apiserver {
namespace json = boost::json;
namespace {

std::string pathFor(const api::GroupVersion& gv) {
  return gv.group.empty() ? "api/" + gv.version : "apis/" + gv.group + "/" + gv.version;
}

json::object queryParam(const char* name, const char* description) {
  return json::object{{"name", name}, {"in", "query"}, {"description", description}, {"schema", json::object{{"type", "string"}}}};
}

json::object operation(const api::ResourceType& t, const char* action, bool withBody, json::array params,
                       json::array contentTypes = {"application/json", "application/yaml"}) {
  json::object op{{"operationId", std::string(action) + t.kind},
                  {"x-kubernetes-action", action},
                  {"x-kubernetes-group-version-kind", json::object{{"group", t.group}, {"version", t.version}, {"kind", t.kind}}},
                  {"parameters", std::move(params)},
                  {"responses", json::object{{"200", json::object{{"description", "OK"}}}}}};
  if (withBody) {
    json::object content;
    for (const auto& c : contentTypes) content[c.get_string()] = json::object{{"schema", json::object{{"type", "object"}}}};
    op["requestBody"] = json::object{{"content", std::move(content)}, {"required", true}};
  }
  return op;
}

}  // namespace

json::value openApiV3Root() {
  json::object paths;
  for (const auto& gv : api::servedGroupVersions())
    paths[pathFor(gv)] = json::object{{"serverRelativeURL", "/openapi/v3/" + pathFor(gv)}};
  return json::object{{"paths", std::move(paths)}};
}

std::optional<json::value> openApiV3Document(const std::string& gvPath) {
  const api::GroupVersion* found = nullptr;
  auto gvs = api::servedGroupVersions();
  for (const auto& gv : gvs)
    if (pathFor(gv) == gvPath) found = &gv;
  if (!found) return std::nullopt;
  json::object paths;
  for (const auto& t : api::builtinResources()) {
    if (t.group != found->group || t.version != found->version) continue;
    std::string base = "/" + gvPath + (t.namespaced ? "/namespaces/{namespace}/" : "/") + t.plural;
    json::array writeParams{queryParam("dryRun", "When present, changes are not persisted."),
                            queryParam("fieldManager", "Name of the actor making the change."),
                            queryParam("fieldValidation", "Ignore, Warn (default) or Strict handling of unknown fields.")};
    json::array listParams{queryParam("labelSelector", ""), queryParam("fieldSelector", ""), queryParam("limit", ""),
                           queryParam("continue", ""), queryParam("resourceVersion", ""), queryParam("watch", ""),
                           queryParam("allowWatchBookmarks", ""), queryParam("timeoutSeconds", "")};
    paths[base] = json::object{{"get", operation(t, "list", false, listParams)},
                               {"post", operation(t, "post", true, writeParams)},
                               {"delete", operation(t, "deletecollection", false, listParams)}};
    json::array patchTypes{"application/json-patch+json", "application/merge-patch+json",
                           "application/strategic-merge-patch+json"};
    json::object item{{"get", operation(t, "get", false, {})},
                      {"put", operation(t, "put", true, writeParams)},
                      {"patch", operation(t, "patch", true, writeParams, patchTypes)},
                      {"delete", operation(t, "delete", true, {queryParam("gracePeriodSeconds", ""), queryParam("propagationPolicy", "")})}};
    paths[base + "/{name}"] = std::move(item);
    if (t.hasStatus)
      paths[base + "/{name}/status"] = json::object{{"get", operation(t, "get", false, {})},
                                                    {"put", operation(t, "put", true, writeParams)}};
  }
  return json::object{{"openapi", "3.0.0"},
                      {"info", json::object{{"title", "skiff"}, {"version", "v1.32.0"}}},
                      {"paths", std::move(paths)},
                      {"components", json::object{{"schemas", json::object()}}}};
}

}  // namespace skiff::apiserver
