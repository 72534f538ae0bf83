#include "apiserver/openapi.h"

#include <algorithm>
#include <set>
#include <boost/json.hpp>

#include "api/resources.h"
#include "api/schema.h"

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

// The package Kubernetes names a group's definitions in: io.k8s.api.<group> for its own groups,
// the reversed group for the rest (as for custom kinds).
std::string packageOf(const std::string& group, const std::string& version) {
  std::string g = group.empty() ? "core" : group;
  if (g.ends_with(".k8s.io") && g.find('.') == g.size() - 7) g = g.substr(0, g.size() - 7);
  if (g.find('.') == std::string::npos) return "io.k8s.api." + g + "." + version;
  std::vector<std::string> parts;
  for (size_t start = 0;;) {
    size_t dot = g.find('.', start);
    parts.push_back(g.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  std::string reversed;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) reversed += *it + ".";
  return reversed + version;
}

// Built-in kinds' schemas, from the field table that validates them (api/schema.h): every type
// a kind reaches becomes a named definition in `schemas`, referenced as `refPrefix` + name
// ("#/components/schemas/" in v3, "#/definitions/" in v2). Subtrees the table leaves untyped
// are objects that keep unknown fields.
class SchemaWriter {
 public:
  SchemaWriter(std::string package, std::string refPrefix, json::object& schemas)
      : package_(std::move(package)), refPrefix_(std::move(refPrefix)), schemas_(schemas) {}

  void kind(const api::ResourceType& t) {
    const api::TypeRef* root = api::schemaForKind(t.kind);
    if (!root || !root->object) return;
    std::string name = package_ + "." + t.kind;
    json::object schema = object(*root->object);
    schema["x-kubernetes-group-version-kind"] = json::array{json::object{{"group", t.group}, {"version", t.version}, {"kind", t.kind}}};
    schemas_[name] = std::move(schema);
    written_.insert(root->object);
  }

 private:
  static constexpr const char* kMeta = "io.k8s.apimachinery.pkg.apis.meta.v1.";

  std::string nameOf(const api::TypeDef& def) const {
    static const std::set<std::string> meta = {"ObjectMeta", "ListMeta", "OwnerReference", "LabelSelector", "LabelSelectorRequirement"};
    return (meta.count(def.name) ? std::string(kMeta) : package_ + ".") + def.name;
  }

  json::object object(const api::TypeDef& def) {
    json::object props;
    for (const auto& [field, ref] : def.fields) props[field] = type(ref);
    json::object schema{{"type", "object"}, {"properties", std::move(props)}};
    if (def.openEnded) schema["x-kubernetes-preserve-unknown-fields"] = true;
    return schema;
  }

  json::value named(const std::string& name, json::object schema) {
    if (!schemas_.contains(name)) schemas_[name] = std::move(schema);
    return json::object{{"$ref", refPrefix_ + name}};
  }

  json::value type(const api::TypeRef& ref) {
    using K = api::TypeRef::Kind;
    switch (ref.kind) {
      case K::String: return json::object{{"type", "string"}};
      case K::Int: return json::object{{"type", "integer"}, {"format", "int64"}};
      case K::Bool: return json::object{{"type", "boolean"}};
      case K::Number: return json::object{{"type", "number"}, {"format", "double"}};
      case K::IntOrString:
        return named("io.k8s.apimachinery.pkg.util.intstr.IntOrString", json::object{{"type", "string"}, {"format", "int-or-string"}});
      case K::Quantity: return named("io.k8s.apimachinery.pkg.api.resource.Quantity", json::object{{"type", "string"}});
      case K::Time: return named(std::string(kMeta) + "Time", json::object{{"type", "string"}, {"format", "date-time"}});
      case K::Any: return json::object{{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}};
      case K::Map: return json::object{{"type", "object"}, {"additionalProperties", ref.element ? type(*ref.element) : json::value(json::object{})}};
      case K::List: {
        json::object list{{"type", "array"}, {"items", ref.element ? type(*ref.element) : json::value(json::object{})}};
        if (!ref.mergeKey.empty()) {
          list["x-kubernetes-patch-merge-key"] = ref.mergeKey;
          list["x-kubernetes-patch-strategy"] = "merge";
          list["x-kubernetes-list-type"] = "map";
          list["x-kubernetes-list-map-keys"] = json::array{json::string(ref.mergeKey)};
        }
        return list;
      }
      case K::Object: {
        std::string name = nameOf(*ref.object);
        if (!written_.count(ref.object)) {
          written_.insert(ref.object);  // before recursing: types may refer to themselves
          schemas_[name] = object(*ref.object);
        }
        return json::object{{"$ref", refPrefix_ + name}};
      }
    }
    return json::object{};
  }

  std::string package_, refPrefix_;
  json::object& schemas_;
  std::set<const api::TypeDef*> written_;
};

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
    } else {
      SchemaWriter(packageOf(t.group, t.version), "#/components/schemas/", schemas).kind(t);
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

json::value openApiV2Document(const CustomResources* custom) {
  json::object definitions;
  for (const api::ResourceType* type : servedResourceTypes(custom)) {
    const api::ResourceType& t = *type;
    if (t.custom) {
      auto [name, schema] = customSchema(t);
      definitions[name] = std::move(schema);
    } else {
      SchemaWriter(packageOf(t.group, t.version), "#/definitions/", definitions).kind(t);
    }
  }
  return json::object{{"swagger", "2.0"},
                      {"info", json::object{{"title", "skiff"}, {"version", "v1.32.0"}}},
                      {"paths", json::object{}},
                      {"definitions", std::move(definitions)}};
}

}  // namespace skiff::apiserver
