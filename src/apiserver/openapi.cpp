#include "apiserver/openapi.h"

#include <algorithm>
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

// A custom kind's schema as kube-apiserver publishes it: the definition's, with apiVersion, kind
// and metadata described, tagged with its group-version-kind. Named like Kubernetes' (reversed group).
std::pair<std::string, json::value> customSchema(const api::ResourceType& t) {
  json::value schema = t.custom->openApiSchema ? *t.custom->openApiSchema : json::value(json::object{{"type", "object"}});
  if (!schema.is_object()) schema = json::object{{"type", "object"}};
  json::object& s = schema.get_object();
  json::value& props = s["properties"];
  if (!props.is_object()) props = json::object();
  props.get_object()["apiVersion"] = json::object{
      {"type", "string"},
      {"description", "APIVersion defines the versioned schema of this representation of an object."}};
  props.get_object()["kind"] = json::object{{"type", "string"}, {"description", "Kind is a string value representing the REST resource this object represents."}};
  props.get_object()["metadata"] = json::object{
      {"type", "object"},
      {"description", "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"}};
  s["x-kubernetes-group-version-kind"] = json::array{json::object{{"group", t.group}, {"version", t.version}, {"kind", t.kind}}};
  std::vector<std::string> parts;
  for (size_t start = 0;;) {
    size_t dot = t.group.find('.', start);
    parts.push_back(t.group.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  std::string reversed;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) reversed += (reversed.empty() ? "" : ".") + *it;
  return {reversed + "." + t.version + "." + t.kind, std::move(schema)};
}

}  // namespace

json::value openApiV3Root(const CustomResources* custom) {
  json::object paths;
  for (const auto& gv : servedGroupVersions(custom))
    paths[pathFor(gv)] = json::object{{"serverRelativeURL", "/openapi/v3/" + pathFor(gv)}};
  return json::object{{"paths", std::move(paths)}};
}

std::optional<json::value> openApiV3Document(const std::string& gvPath, const CustomResources* custom) {
  const api::GroupVersion* found = nullptr;
  auto gvs = servedGroupVersions(custom);
  for (const auto& gv : gvs)
    if (pathFor(gv) == gvPath) found = &gv;
  if (!found) return std::nullopt;
  json::object paths, schemas;
  for (const api::ResourceType* type : servedResourceTypes(custom)) {
    const api::ResourceType& t = *type;
    if (t.group != found->group || t.version != found->version) continue;
    if (t.custom) {
      auto [name, schema] = customSchema(t);
      schemas[name] = std::move(schema);
    }
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
    json::array patchTypes{"application/json-patch+json", "application/merge-patch+json"};
    if (!t.custom) patchTypes.emplace_back("application/strategic-merge-patch+json");  // custom kinds have no patch strategies
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
                      {"components", json::object{{"schemas", std::move(schemas)}}}};
}

}  // namespace skiff::apiserver
