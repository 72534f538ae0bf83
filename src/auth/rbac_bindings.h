// RoleBinding and ClusterRoleBinding contents (rbac.authorization.k8s.io/v1): the role they refer
// to and the subjects they grant it to, parsed with Kubernetes' validation and field paths, and
// whether a binding applies to a user (Kubernetes' appliesTo). A binding to a role that does not
// exist is valid, as in Kubernetes: it grants nothing until the role appears.
#pragma once
#include <string>
#include <vector>

#include <boost/json/fwd.hpp>

#include "auth/user.h"
#include "common/result.h"

namespace skiff::auth {

inline constexpr const char* kRbacGroup = "rbac.authorization.k8s.io";

struct RoleRef {
  std::string kind, name;  // kind: Role or ClusterRole
};

struct Subject {
  std::string kind, name, ns;  // kind: User, Group or ServiceAccount
};

struct BindingSpec {
  RoleRef roleRef;
  std::vector<Subject> subjects;
};

// `binding` is the whole object; `namespaced` is true for a RoleBinding.
Result<BindingSpec> parseBinding(const boost::json::value& binding, bool namespaced);

// `bindingNamespace` names the namespace of a RoleBinding (a ServiceAccount subject without a
// namespace is in it); "" for a ClusterRoleBinding.
bool appliesTo(const Subject& subject, const UserInfo& user, const std::string& bindingNamespace);
bool appliesTo(const BindingSpec& binding, const UserInfo& user, const std::string& bindingNamespace);

}  // namespace skiff::auth
