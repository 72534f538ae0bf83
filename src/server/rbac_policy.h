// RbacPolicy: RBAC as this API server sees it — the default roles and bindings made sure of at
// start (auth/rbac_defaults.h), and an auth::RbacAuthorizer kept current by informers on
// Roles, ClusterRoles, RoleBindings and ClusterRoleBindings. With the in-process client the
// informers hear a write before it returns, so a binding counts from the next request.
#pragma once
#include <memory>
#include <vector>

#include "auth/rbac_authorizer.h"
#include "client/informer.h"
#include "common/result.h"

namespace skiff::server {

// Creates missing default roles and bindings and puts back rules, aggregation rules and subjects
// taken out of them, unless their rbac.authorization.kubernetes.io/autoupdate annotation is
// "false" (as kube-apiserver's bootstrap policy reconciliation does). Extra rules users added stay.
Status ensureDefaultRbac(client::Client& client);

class RbacPolicy {
 public:
  explicit RbacPolicy(client::Client& client) : client_(client) {}
  ~RbacPolicy() { stop(); }
  // Ensures the defaults, then lists and watches the four kinds.
  Status start();
  void stop();
  const auth::RbacAuthorizer& authorizer() const { return authorizer_; }

 private:
  client::Client& client_;
  auth::RbacAuthorizer authorizer_;
  std::vector<std::unique_ptr<client::Informer>> informers_;
};

}  // namespace skiff::server
