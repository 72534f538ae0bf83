#include "api/custom_resource_definition.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <set>

#include "api/object.h"
#include "api/structural_schema.h"

namespace skiff::api {
namespace json = boost::json;

namespace {

bool isDns1035Label(std::string_view s) {
  if (s.empty() || s.size() > 63 || !std::islower(static_cast<unsigned char>(s.front())) || s.back() == '-') return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '-'; });
}

bool isDnsSubdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view label = s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (char c : label)
      if (!std::islower(static_cast<unsigned char>(c)) && !std::isdigit(static_cast<unsigned char>(c)) && c != '-') return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool isKindName(std::string_view s) {
  if (s.empty() || !std::isalpha(static_cast<unsigned char>(s.front())) || s.back() == '-') return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-'; });
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

std::vector<std::string> strings(const json::value* v) {
  std::vector<std::string> out;
  if (v && v->is_array())
    for (const auto& x : v->get_array())
      if (x.is_string()) out.emplace_back(x.get_string());
  return out;
}

// What a definition says, read once; `causes` collects what is wrong with it.
struct Definition {
  std::string name, group, scope, plural, singular, kind, listKind;
  std::vector<std::string> shortNames, categories;
  const json::array* versions = nullptr;
  std::vector<FieldCause> causes;

  void invalid(std::string field, const std::string& value, const std::string& why) {
    causes.push_back({"FieldValueInvalid", "Invalid value: " + json::serialize(json::value(value)) + ": " + why, std::move(field)});
  }
  void required(std::string field, std::string why = "") {
    causes.push_back({"FieldValueRequired", why.empty() ? "Required value" : "Required value: " + why, std::move(field)});
  }
};

Definition readDefinition(const json::value& crd) {
  Definition d;
  d.name = stringAt(crd, "metadata.name");
  d.group = stringAt(crd, "spec.group");
  d.scope = stringAt(crd, "spec.scope");
  d.plural = stringAt(crd, "spec.names.plural");
  d.singular = stringAt(crd, "spec.names.singular");
  d.kind = stringAt(crd, "spec.names.kind");
  d.listKind = stringAt(crd, "spec.names.listKind");
  d.shortNames = strings(valueAt(crd, "spec.names.shortNames"));
  d.categories = strings(valueAt(crd, "spec.names.categories"));
  if (const json::value* v = valueAt(crd, "spec.versions"); v && v->is_array()) d.versions = &v->get_array();

  if (d.group.empty()) d.required("spec.group");
  else if (!isDnsSubdomain(d.group) || d.group.find('.') == std::string::npos)
    d.invalid("spec.group", d.group, "should be a domain with at least one dot");
  if (d.plural.empty()) d.required("spec.names.plural");
  else if (!isDns1035Label(d.plural))
    d.invalid("spec.names.plural", d.plural, "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'");
  if (!d.singular.empty() && !isDns1035Label(d.singular))
    d.invalid("spec.names.singular", d.singular, "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'");
  if (d.kind.empty()) d.required("spec.names.kind");
  else if (!isKindName(d.kind)) d.invalid("spec.names.kind", d.kind, "may have mixed case, but should otherwise match: ^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$");
  if (!d.listKind.empty() && d.listKind == d.kind) d.invalid("spec.names.listKind", d.listKind, "kind and listKind may not be the same");
  for (size_t i = 0; i < d.shortNames.size(); ++i)
    if (!isDns1035Label(d.shortNames[i]))
      d.invalid("spec.names.shortNames[" + std::to_string(i) + "]", d.shortNames[i], "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'");
  if (!d.plural.empty() && !d.group.empty() && d.name != d.plural + "." + d.group)
    d.invalid("metadata.name", d.name, "must be spec.names.plural+\".\"+spec.group");
  if (d.scope.empty()) d.required("spec.scope");
  else if (d.scope != "Namespaced" && d.scope != "Cluster")
    d.causes.push_back({"FieldValueNotSupported", "Unsupported value: \"" + d.scope + "\": supported values: \"Cluster\", \"Namespaced\"", "spec.scope"});
  if (!d.versions || d.versions->empty()) d.required("spec.versions", "must have exactly one version marked as storage version");
  return d;
}

// The printer columns of one version; refusals go to `d`.
std::vector<PrinterColumn> readColumns(const json::value& version, const std::string& path, Definition& d) {
  std::vector<PrinterColumn> out;
  const json::value* cols = valueAt(version, "additionalPrinterColumns");
  if (!cols || !cols->is_array()) return out;
  static const std::set<std::string> kTypes{"integer", "number", "string", "boolean", "date"};
  for (size_t i = 0; i < cols->get_array().size(); ++i) {
    const json::value& c = cols->get_array()[i];
    std::string at = path + ".additionalPrinterColumns[" + std::to_string(i) + "]";
    PrinterColumn pc{stringAt(c, "name"), stringAt(c, "type"), stringAt(c, "format"), stringAt(c, "description"), stringAt(c, "jsonPath"), 0};
    if (const json::value* p = valueAt(c, "priority"); p && p->is_int64()) pc.priority = int(p->get_int64());
    if (pc.name.empty()) d.required(at + ".name");
    if (pc.jsonPath.empty()) d.required(at + ".jsonPath");
    else if (!pc.jsonPath.starts_with(".")) d.invalid(at + ".jsonPath", pc.jsonPath, "must be a simple json path starting with .");
    if (pc.type.empty()) d.required(at + ".type");
    else if (!kTypes.count(pc.type))
      d.causes.push_back({"FieldValueNotSupported", "Unsupported value: \"" + pc.type + "\": supported values: \"boolean\", \"date\", \"integer\", \"number\", \"string\"", at + ".type"});
    out.push_back(std::move(pc));
  }
  return out;
}

DefinitionTypes readTypes(const json::value& crd, Definition& d) {
  DefinitionTypes out;
  if (!d.versions) return out;
  std::set<std::string> names;
  size_t storages = 0;
  for (size_t i = 0; i < d.versions->size(); ++i) {
    const json::value& v = (*d.versions)[i];
    std::string path = "spec.versions[" + std::to_string(i) + "]";
    std::string name = stringAt(v, "name");
    if (name.empty()) d.required(path + ".name");
    else if (!isDns1035Label(name)) d.invalid(path + ".name", name, "a DNS-1035 label must consist of lower case alphanumeric characters or '-'");
    else if (!names.insert(name).second) d.causes.push_back({"FieldValueDuplicate", "Duplicate value: \"" + name + "\"", path + ".name"});
    const json::value* storage = valueAt(v, "storage");
    const json::value* served = valueAt(v, "served");
    bool isStorage = storage && storage->is_bool() && storage->get_bool();
    if (isStorage) {
      ++storages;
      out.storage = i;
    }
    if (!served || !served->is_bool()) d.required(path + ".served");
    out.served.push_back(served && served->is_bool() && served->get_bool());

    auto custom = std::make_shared<CustomKind>();
    custom->definition = d.name;
    const json::value* schema = valueAt(v, "schema.openAPIV3Schema");
    if (!schema) {
      d.required(path + ".schema.openAPIV3Schema", "schemas are required");
    } else {
      auto compiled = compileSchema(*schema, path + ".schema.openAPIV3Schema");
      if (!compiled) {
        for (auto& c : compiled.error().causes) d.causes.push_back(std::move(c));
      } else {
        custom->schema = compiled->root;
        custom->openApiSchema = std::make_shared<const json::value>(*schema);
        for (auto& r : compiled->unevaluatedRules) out.unevaluatedRules.push_back(std::move(r));
      }
    }
    custom->columns = readColumns(v, path, d);
    ResourceType t;
    t.group = d.group;
    t.version = name;
    t.kind = d.kind;
    t.plural = d.plural;
    t.singular = d.singular.empty() ? lower(d.kind) : d.singular;
    t.namespaced = d.scope != "Cluster";
    t.shortNames = d.shortNames;
    t.categories = d.categories;
    t.hasStatus = valueAt(v, "subresources.status") != nullptr;
    if (const json::value* scale = valueAt(v, "subresources.scale")) {
      t.hasScale = true;
      custom->specReplicasPath = stringAt(*scale, "specReplicasPath");
      custom->statusReplicasPath = stringAt(*scale, "statusReplicasPath");
      custom->labelSelectorPath = stringAt(*scale, "labelSelectorPath");
      std::string at = path + ".subresources.scale";
      if (custom->specReplicasPath.empty()) d.required(at + ".specReplicasPath");
      else if (!custom->specReplicasPath.starts_with(".spec."))
        d.invalid(at + ".specReplicasPath", custom->specReplicasPath, "should be a json path under .spec");
      if (custom->statusReplicasPath.empty()) d.required(at + ".statusReplicasPath");
      else if (!custom->statusReplicasPath.starts_with(".status."))
        d.invalid(at + ".statusReplicasPath", custom->statusReplicasPath, "should be a json path under .status");
      if (!custom->labelSelectorPath.empty() && !custom->labelSelectorPath.starts_with(".spec.") &&
          !custom->labelSelectorPath.starts_with(".status."))
        d.invalid(at + ".labelSelectorPath", custom->labelSelectorPath, "should be a json path under either .spec or .status");
    }
    t.custom = std::move(custom);
    out.versions.push_back(std::move(t));
  }
  if (!d.versions->empty() && storages != 1)
    d.invalid("spec.versions", std::to_string(storages) + " storage versions", "must have exactly one version marked as storage version");
  if (const json::value* strategy = valueAt(crd, "spec.conversion.strategy"); strategy && strategy->is_string() && strategy->get_string() != "None")
    d.causes.push_back({"FieldValueNotSupported",
                        "Unsupported value: " + json::serialize(*strategy) + ": supported values: \"None\" (skiff does not call conversion webhooks)",
                        "spec.conversion.strategy"});
  return out;
}

}  // namespace

void defaultCustomResourceDefinition(json::value& crd) {
  if (!crd.is_object()) return;
  json::value* spec = crd.get_object().if_contains("spec");
  if (!spec || !spec->is_object()) return;
  json::value* names = spec->get_object().if_contains("names");
  if (names && names->is_object()) {
    auto& n = names->get_object();
    std::string kind = n.contains("kind") && n["kind"].is_string() ? std::string(n["kind"].get_string()) : "";
    if (!kind.empty() && !n.contains("singular")) n["singular"] = lower(kind);
    if (!kind.empty() && !n.contains("listKind")) n["listKind"] = kind + "List";
  }
  auto& s = spec->get_object();
  if (!s.contains("conversion")) s["conversion"] = json::object{{"strategy", "None"}};
  if (json::value* versions = s.if_contains("versions"); versions && versions->is_array())
    for (auto& v : versions->get_array())
      if (json::value* cols = v.is_object() ? v.get_object().if_contains("additionalPrinterColumns") : nullptr; cols && cols->is_array())
        for (auto& c : cols->get_array())
          if (c.is_object() && !c.get_object().contains("priority")) c.get_object()["priority"] = 0;
}

std::vector<FieldCause> validateCustomResourceDefinition(const json::value& crd) {
  Definition d = readDefinition(crd);
  readTypes(crd, d);
  return std::move(d.causes);
}

Result<DefinitionTypes> customResourceTypes(const json::value& crd) {
  Definition d = readDefinition(crd);
  DefinitionTypes types = readTypes(crd, d);
  if (!d.causes.empty()) {
    Error e = Error::invalid("CustomResourceDefinition " + json::serialize(json::value(d.name)) + " is invalid: " + d.causes.front().field + ": " +
                             d.causes.front().message);
    e.causes = std::move(d.causes);
    return e;
  }
  return types;
}

}  // namespace skiff::api
