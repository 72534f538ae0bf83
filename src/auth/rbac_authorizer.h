// RBAC authorization (rbac.authorization.k8s.io/v1): an index of the cluster's Roles,
// ClusterRoles, RoleBindings and ClusterRoleBindings, parsed once when they change, and the
// answers Kubernetes' RBAC authorizer gives from them.
//
// Whoever watches the four kinds feeds set() (server/rbac_policy.h does, from informers on the
// in-process client, so a binding written through this server counts from the next request).
// A binding applies to requests in its own namespace (RoleBinding) or everywhere
// (ClusterRoleBinding); it grants the rules of the role it refers to, looked up when the request
// is decided, so a binding made before its role starts granting when the role appears.
//
// Threading: set() takes a writer lock; allows() and rulesFor() share a reader lock and touch
// only the bindings indexed under the user's name and groups.
#pragma once
#include <map>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/json/fwd.hpp>

#include "auth/rbac_bindings.h"
#include "auth/rbac_rules.h"
#include "auth/request_info.h"
#include "auth/user.h"

namespace skiff::auth {

enum class RbacKind { Role, ClusterRole, RoleBinding, ClusterRoleBinding };

class RbacAuthorizer {
 public:
  // `object` null: deleted. An object that does not parse (admission refuses those; an older
  // store might hold one) grants nothing.
  void set(RbacKind kind, const std::string& ns, const std::string& name, const boost::json::value* object);

  bool allows(const UserInfo& user, const RequestInfo& request) const;
  // Every rule `user` holds in `ns` (cluster-wide ones included); "" = the cluster-wide ones only.
  std::vector<PolicyRule> rulesFor(const UserInfo& user, const std::string& ns) const;
  // The rules of the role a binding in `bindingNamespace` refers to; false when it does not exist.
  bool roleRules(const RoleRef& ref, const std::string& bindingNamespace, std::vector<PolicyRule>& out) const;

 private:
  struct Binding {
    std::string ns;  // "" for a ClusterRoleBinding
    BindingSpec spec;
  };
  // Calls `visit` with the rules of each binding that applies to `user` and reaches `ns`
  // (ClusterRoleBindings always; RoleBindings of `ns` when it is not ""); stops when it returns true.
  template <typename Visit>
  bool forEachGrant(const UserInfo& user, const std::string& ns, Visit&& visit) const;
  void reindex();
  bool lookupRole(const RoleRef& ref, const std::string& bindingNamespace, std::vector<PolicyRule>& out) const;  // lock held

  mutable std::shared_mutex mu_;
  std::map<std::string, std::vector<PolicyRule>> roles_;         // "<ns>/<name>"
  std::map<std::string, std::vector<PolicyRule>> clusterRoles_;  // name
  std::map<std::string, Binding> bindings_;                      // "R/<ns>/<name>" or "C/<name>"
  // "u:<user>" / "g:<group>" -> the bindings naming that subject (ServiceAccounts index as users).
  std::unordered_map<std::string, std::vector<const Binding*>> bySubject_;
};

}  // namespace skiff::auth
