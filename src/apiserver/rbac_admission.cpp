#include "apiserver/rbac_admission.h"

#include <boost/json.hpp>

#include "api/object.h"
#include "auth/rbac_aggregation.h"
#include "auth/rbac_bindings.h"

namespace skiff::apiserver {
namespace json = boost::json;

namespace {
void addCauses(const Error& e, std::vector<FieldCause>& out) {
  if (e.causes.empty()) out.push_back({"FieldValueInvalid", e.message, ""});
  for (const auto& c : e.causes) out.push_back(c);
}

const json::value* field(const json::value& object, const char* key) {
  return object.is_object() ? object.get_object().if_contains(key) : nullptr;
}

bool isRole(const api::ResourceType& type) { return type.kind == "Role" || type.kind == "ClusterRole"; }

// Kubernetes' Go rendering of a string slice with %q: ["a" "b"].
std::string goQuoted(const std::vector<std::string>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? " \"" : "\"") + v[i] + "\"";
  return s + "]";
}

auth::RequestInfo verbOn(const std::string& verb, const std::string& resource, const std::string& ns, const std::string& name) {
  auth::RequestInfo r;
  r.isResource = true;
  r.verb = verb;
  r.apiGroup = auth::kRbacGroup;
  r.apiVersion = "v1";
  r.resource = resource;
  r.ns = ns;
  r.name = name;
  return r;
}
}  // namespace

bool isRbacKind(const api::ResourceType& type) {
  return !type.custom && type.group == auth::kRbacGroup &&
         (type.kind == "Role" || type.kind == "ClusterRole" || type.kind == "RoleBinding" || type.kind == "ClusterRoleBinding");
}

std::vector<FieldCause> rbacCauses(const api::ResourceType& type, const json::value& object, const json::value* old) {
  std::vector<FieldCause> causes;
  if (!isRbacKind(type)) return causes;
  if (isRole(type)) {
    if (auto rules = auth::parsePolicyRules(field(object, "rules"), "rules", type.namespaced); !rules) addCauses(rules.error(), causes);
    if (type.kind == "ClusterRole")
      if (auto agg = auth::parseAggregationRule(field(object, "aggregationRule")); !agg) addCauses(agg.error(), causes);
    return causes;
  }
  auto binding = auth::parseBinding(object, type.namespaced);
  if (!binding) {
    addCauses(binding.error(), causes);
    return causes;
  }
  if (old) {
    const json::value* before = field(*old, "roleRef");
    const json::value* now = field(object, "roleRef");
    if (before && now && *before != *now) causes.push_back({"FieldValueInvalid", "cannot change roleRef", "roleRef"});
  }
  return causes;
}

Status admitRbacWrite(const auth::Authorizer& authorizer, const auth::RbacAuthorizer& rbac, const api::ResourceType& type,
                      const std::string& ns, const json::value& object, const auth::UserInfo& user) {
  if (!isRbacKind(type) || user.inGroup(auth::kMasters)) return {};
  std::string name = api::stringAt(object, "metadata.name");
  std::vector<auth::PolicyRule> granted;
  if (isRole(type)) {
    if (authorizer.authorize(user, verbOn("escalate", type.plural, ns, name)).allowed) return {};
    auto rules = auth::parsePolicyRules(field(object, "rules"), "rules", type.namespaced);
    if (!rules) return rules.error();
    granted = std::move(*rules);
  } else {
    auto binding = auth::parseBinding(object, type.namespaced);
    if (!binding) return binding.error();
    const auth::RoleRef& ref = binding->roleRef;
    std::string refPlural = ref.kind == "Role" ? "roles" : "clusterroles";
    if (authorizer.authorize(user, verbOn("bind", refPlural, ns, ref.name)).allowed) return {};
    if (!rbac.roleRules(ref, ns, granted))
      return Error::forbidden(type.plural + "." + type.group + " \"" + name + "\" is forbidden: " + refPlural + "." + auth::kRbacGroup +
                              " \"" + ref.name + "\" not found (only a user allowed to bind it may refer to a role that does not exist yet)");
  }
  auto missing = auth::uncoveredRules(rbac.rulesFor(user, ns), granted);
  if (missing.empty()) return {};
  std::string list;
  for (const auto& m : missing) list += "\n" + auth::compactString(m);
  return Error::forbidden(type.plural + "." + type.group + " \"" + name + "\" is forbidden: user \"" + user.name + "\" (groups=" +
                          goQuoted(user.groups) + ") is attempting to grant RBAC permissions not currently held:" + list);
}

}  // namespace skiff::apiserver
