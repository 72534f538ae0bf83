// Admission of RBAC objects (rbac.authorization.k8s.io/v1), as kube-apiserver's RBAC storage
// does it:
// - validation with Kubernetes' field paths: rules, aggregationRule, roleRef and subjects, and a
//   binding's roleRef never changes after creation;
// - escalation prevention: a Role or ClusterRole may only hold rules its writer already holds
//   (unless the writer may `escalate` roles), and a binding may only grant a role whose rules its
//   writer holds (unless the writer may `bind` that role). system:masters holds everything.
#pragma once
#include <string>
#include <vector>

#include <boost/json/fwd.hpp>

#include "api/resources.h"
#include "auth/authorizer.h"
#include "auth/rbac_authorizer.h"
#include "common/result.h"

namespace skiff::apiserver {

bool isRbacKind(const api::ResourceType& type);

// Field problems of a Role, ClusterRole, RoleBinding or ClusterRoleBinding (`old` on update).
std::vector<FieldCause> rbacCauses(const api::ResourceType& type, const boost::json::value& object, const boost::json::value* old);

// 403 Forbidden with Kubernetes' "attempting to grant RBAC permissions not currently held"
// message when `user` may not write `object` (already validated) in `ns`.
Status admitRbacWrite(const auth::Authorizer& authorizer, const auth::RbacAuthorizer& rbac, const api::ResourceType& type,
                      const std::string& ns, const boost::json::value& object, const auth::UserInfo& user);

}  // namespace skiff::apiserver
