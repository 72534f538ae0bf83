#include "auth/rbac_authorizer.h"

#include <boost/json.hpp>

#include <mutex>
#include <set>

namespace skiff::auth {
namespace json = boost::json;

namespace {
std::string roleKey(const std::string& ns, const std::string& name) { return ns + "/" + name; }

// The index key of a subject, as the user it names would be looked up.
std::string subjectKey(const Subject& s, const std::string& bindingNamespace) {
  if (s.kind == "User") return "u:" + s.name;
  if (s.kind == "Group") return "g:" + s.name;
  const std::string& ns = s.ns.empty() ? bindingNamespace : s.ns;
  return "u:system:serviceaccount:" + ns + ":" + s.name;
}
}  // namespace

void RbacAuthorizer::set(RbacKind kind, const std::string& ns, const std::string& name, const json::value* object) {
  std::unique_lock lock(mu_);
  switch (kind) {
    case RbacKind::Role:
    case RbacKind::ClusterRole: {
      auto& table = kind == RbacKind::Role ? roles_ : clusterRoles_;
      std::string key = kind == RbacKind::Role ? roleKey(ns, name) : name;
      table.erase(key);
      if (!object || !object->is_object()) return;
      auto rules = parsePolicyRules(object->get_object().if_contains("rules"), "rules", kind == RbacKind::Role);
      if (rules) table[key] = std::move(*rules);
      return;
    }
    case RbacKind::RoleBinding:
    case RbacKind::ClusterRoleBinding: {
      bool namespaced = kind == RbacKind::RoleBinding;
      std::string key = namespaced ? "R/" + roleKey(ns, name) : "C/" + name;
      bindings_.erase(key);
      if (object) {
        auto spec = parseBinding(*object, namespaced);
        if (spec) bindings_[key] = Binding{namespaced ? ns : "", std::move(*spec)};
      }
      reindex();
      return;
    }
  }
}

void RbacAuthorizer::reindex() {
  bySubject_.clear();
  for (const auto& [key, b] : bindings_) {
    std::set<std::string> keys;  // a subject named twice indexes the binding once
    for (const auto& s : b.spec.subjects) keys.insert(subjectKey(s, b.ns));
    for (const auto& k : keys) bySubject_[k].push_back(&b);
  }
}

bool RbacAuthorizer::roleRules(const RoleRef& ref, const std::string& bindingNamespace, std::vector<PolicyRule>& out) const {
  std::shared_lock lock(mu_);
  return lookupRole(ref, bindingNamespace, out);
}

bool RbacAuthorizer::lookupRole(const RoleRef& ref, const std::string& bindingNamespace, std::vector<PolicyRule>& out) const {
  const std::vector<PolicyRule>* rules = nullptr;
  if (ref.kind == "ClusterRole") {
    auto it = clusterRoles_.find(ref.name);
    if (it != clusterRoles_.end()) rules = &it->second;
  } else if (ref.kind == "Role" && !bindingNamespace.empty()) {
    auto it = roles_.find(roleKey(bindingNamespace, ref.name));
    if (it != roles_.end()) rules = &it->second;
  }
  if (!rules) return false;
  out.insert(out.end(), rules->begin(), rules->end());
  return true;
}

template <typename Visit>
bool RbacAuthorizer::forEachGrant(const UserInfo& user, const std::string& ns, Visit&& visit) const {
  std::set<const Binding*> seen;
  auto visitKey = [&](const std::string& key) {
    auto it = bySubject_.find(key);
    if (it == bySubject_.end()) return false;
    for (const Binding* b : it->second) {
      if (!b->ns.empty() && b->ns != ns) continue;
      if (!seen.insert(b).second) continue;
      std::vector<PolicyRule> rules;
      if (!lookupRole(b->spec.roleRef, b->ns, rules)) continue;
      if (visit(rules)) return true;
    }
    return false;
  };
  if (visitKey("u:" + user.name)) return true;
  for (const auto& g : user.groups)
    if (visitKey("g:" + g)) return true;
  return false;
}

bool RbacAuthorizer::allows(const UserInfo& user, const RequestInfo& request) const {
  std::shared_lock lock(mu_);
  // Non-resource URLs and cluster-scoped resources: ClusterRoleBindings only (ns "").
  const std::string& ns = request.isResource ? request.ns : std::string();
  return forEachGrant(user, ns, [&](const std::vector<PolicyRule>& rules) { return rulesAllow(rules, request); });
}

std::vector<PolicyRule> RbacAuthorizer::rulesFor(const UserInfo& user, const std::string& ns) const {
  std::shared_lock lock(mu_);
  std::vector<PolicyRule> out;
  forEachGrant(user, ns, [&](const std::vector<PolicyRule>& rules) {
    out.insert(out.end(), rules.begin(), rules.end());
    return false;
  });
  return out;
}

}  // namespace skiff::auth
