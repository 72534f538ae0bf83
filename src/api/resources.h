// The kinds skiff serves: group, version, names, scope and subresources, as discovery reports them.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/fwd.hpp>

namespace skiff::api {

struct StructuralSchema;
struct ResourceType;

// additionalPrinterColumns of a CustomResourceDefinition version.
struct PrinterColumn {
  std::string name, type, format, description, jsonPath;
  int priority = 0;
};

// What a CustomResourceDefinition version adds to its ResourceType.
struct CustomKind {
  std::string definition;  // the CustomResourceDefinition's name (<plural>.<group>)
  std::shared_ptr<const StructuralSchema> schema;
  std::shared_ptr<const boost::json::value> openApiSchema;  // as written in the definition (for OpenAPI, explain)
  std::vector<PrinterColumn> columns;
  std::string specReplicasPath, statusReplicasPath, labelSelectorPath;  // scale subresource
  const ResourceType* storedAs = nullptr;  // the storage version's type, when this version is not it
};

struct ResourceType {
  std::string group;     // "" for the core group
  std::string version;
  std::string kind;
  std::string plural;    // REST path segment
  std::string singular;
  bool namespaced = true;
  bool hasStatus = false;  // status subresource: main-resource writes keep status, /status writes only status
  bool hasScale = false;   // scale subresource
  std::vector<std::string> shortNames;
  std::vector<std::string> categories;
  std::shared_ptr<const CustomKind> custom;  // null for the built-in kinds
  // Reviews (SelfSubjectAccessReview, TokenReview, ...): only created, answered and never stored.
  bool createOnly = false;

  // A built-in kind (a custom kind may reuse a built-in's name in its own group: Knative's Service).
  bool builtin(std::string_view k) const { return !custom && kind == k; }
  std::string apiVersion() const { return group.empty() ? version : group + "/" + version; }
  std::string listKind() const { return kind + "List"; }
  // Storage key prefix for the whole resource: /registry/<group>/<plural>/
  std::string storagePrefix() const { return "/registry/" + (group.empty() ? std::string("core") : group) + "/" + plural + "/"; }
  std::string storageKey(std::string_view ns, std::string_view name) const {
    return storagePrefix() + (namespaced ? std::string(ns) + "/" : "") + std::string(name);
  }
};

const std::vector<ResourceType>& builtinResources();
const ResourceType* findByPlural(std::string_view group, std::string_view version, std::string_view plural);
const ResourceType* findByKind(std::string_view apiVersion, std::string_view kind);

struct GroupVersion {
  std::string group, version;
};
// Every group/version served, core first.
std::vector<GroupVersion> servedGroupVersions();

}  // namespace skiff::api
