// The roles and bindings every cluster starts with, as kube-apiserver's bootstrap policy ships
// them: cluster-admin (bound to system:masters), the user-facing admin, edit and view (filled by
// aggregation from system:aggregate-to-{admin,edit,view}), system:discovery, system:basic-user
// and system:public-info-viewer (bound to every authenticated user; the last also to
// unauthenticated ones), system:monitoring, system:auth-delegator and system:node-bootstrapper.
// skiff's own kinds (Gateway API, Istio AuthorizationPolicy, metrics.k8s.io) join view/edit/admin
// through aggregated roles of their own, as add-ons do in Kubernetes.
//
// Each carries kubernetes.io/bootstrapping=rbac-defaults and the autoupdate annotation: at start
// skiff adds back a missing role or binding, and a rule or subject taken out of one, unless the
// user set rbac.authorization.kubernetes.io/autoupdate to "false" (server/rbac_policy.h).
#pragma once
#include <vector>

#include <boost/json/value.hpp>

namespace skiff::auth {

std::vector<boost::json::value> defaultClusterRoles();
std::vector<boost::json::value> defaultClusterRoleBindings();

}  // namespace skiff::auth
