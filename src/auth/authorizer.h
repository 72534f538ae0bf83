// Authorization: may this user do this request? Decided from the request's head (before its
// body is read), as Kubernetes' authorizers decide, by rules per kind of user:
//
// - system:masters: everything.
// - Nodes (system:node:<name> in system:nodes), Kubernetes' Node authorizer and system:node
//   role in one: read the cluster-wide kinds a node's agent, DNS and proxy watch (nodes, pods,
//   services, endpoints, endpoint slices, namespaces, Gateway API routes, authorization
//   policies); write only their own Node, node Lease and the status of pods bound to them; read
//   a Secret, ConfigMap, PersistentVolumeClaim or ServiceAccount (and request its token) only
//   when a pod bound to them uses it; list TLS Secrets (type kubernetes.io/tls: the node proxy
//   serves Gateway certificates); events; certificate signing requests. What a node creates
//   is checked again against the body (ApiServer: a node creates only its own Node and Lease).
// - Bootstrappers (a join token): certificate signing requests only.
// - Anonymous: the kube-public/cluster-info ConfigMap (a joining node's discovery).
// - Everyone else, and what the rules above do not allow: RBAC (auth/rbac_authorizer.h), as
//   kube-apiserver runs --authorization-mode=Node,RBAC. Service accounts, users by certificate
//   and impersonated users get exactly what their bindings grant.
// Every authenticated user may read discovery (/api, /apis, /openapi, /version).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include <boost/json/fwd.hpp>

#include "auth/rbac_authorizer.h"
#include "auth/request_info.h"
#include "auth/user.h"

namespace skiff::auth {

// What the node authorizer needs of a pod: where it runs and what it uses.
struct PodReferences {
  std::string ns, name, nodeName, serviceAccount;
  std::vector<std::string> secrets, configMaps, claims;
};
PodReferences podReferencesOf(const boost::json::value& pod);

// The cluster as authorization sees it.
struct ClusterView {
  std::function<std::vector<PodReferences>(const std::string& node)> podsOnNode;
  const RbacAuthorizer* rbac = nullptr;  // null: no RBAC grants
};

struct Decision {
  bool allowed = false;
  std::string reason;  // on refusal: the message for the client
};

class Authorizer {
 public:
  explicit Authorizer(ClusterView view) : view_(std::move(view)) {}
  Decision authorize(const UserInfo& user, const RequestInfo& request) const;

 private:
  Decision node(const UserInfo& user, const std::string& nodeName, const RequestInfo& r) const;
  Decision special(const UserInfo& user, const RequestInfo& r) const;  // masters, nodes, bootstrappers, anonymous
  bool usedByPodOn(const std::string& nodeName, const RequestInfo& r) const;
  ClusterView view_;
};

}  // namespace skiff::auth
