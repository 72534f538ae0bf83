#include "auth/authorizer.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace skiff::auth {
namespace {
namespace json = boost::json;

Decision ask(const Authorizer& a, const UserInfo& u, const std::string& method, const std::string& path, const std::string& fieldSelector = "",
             const std::string& watch = "") {
  return a.authorize(u, requestInfoOf(method, path, watch, fieldSelector));
}

TEST(RequestInfo, ReadsVerbsAndResourcesAsKubernetes) {
  auto r = requestInfoOf("GET", "/api/v1/namespaces/shop/pods", "true", "");
  EXPECT_TRUE(r.isResource);
  EXPECT_EQ(r.verb, "watch");
  EXPECT_EQ(r.ns, "shop");
  EXPECT_EQ(r.resource, "pods");
  r = requestInfoOf("PATCH", "/apis/apps/v1/namespaces/shop/deployments/web/scale", "", "");
  EXPECT_EQ(r.verb, "patch");
  EXPECT_EQ(r.apiGroup, "apps");
  EXPECT_EQ(r.name, "web");
  EXPECT_EQ(r.subresource, "scale");
  r = requestInfoOf("PUT", "/api/v1/namespaces/shop/finalize", "", "");
  EXPECT_EQ(r.resource, "namespaces");
  EXPECT_EQ(r.name, "shop");
  EXPECT_EQ(r.subresource, "finalize");
  EXPECT_EQ(requestInfoOf("DELETE", "/api/v1/namespaces/shop/pods", "", "").verb, "deletecollection");
  EXPECT_EQ(requestInfoOf("GET", "/api/v1/watch/namespaces/shop/pods", "", "").verb, "watch");
  r = requestInfoOf("GET", "/metrics", "", "");
  EXPECT_FALSE(r.isResource);
  EXPECT_EQ(r.verb, "get");
}

TEST(Authorizer, EvictionIsCreateOnPodsEviction) {
  auto r = requestInfoOf("POST", "/api/v1/namespaces/shop/pods/web-1/eviction", "", "");
  EXPECT_TRUE(r.isResource);
  EXPECT_EQ(r.verb, "create");
  EXPECT_EQ(r.resource, "pods");
  EXPECT_EQ(r.subresource, "eviction");
  EXPECT_EQ(r.name, "web-1");
  Authorizer a({});
  UserInfo admin{"system:admin", {kMasters, kAuthenticated}, "", ""};
  EXPECT_TRUE(ask(a, admin, "POST", "/api/v1/namespaces/shop/pods/web-1/eviction").allowed);
  UserInfo sa{"system:serviceaccount:shop:buyer", {"system:serviceaccounts", "system:serviceaccounts:shop", kAuthenticated}, "", ""};
  Decision d = ask(a, sa, "POST", "/api/v1/namespaces/shop/pods/web-1/eviction");
  EXPECT_FALSE(d.allowed);
  EXPECT_NE(d.reason.find("cannot create resource \"pods/eviction\""), std::string::npos) << d.reason;
}

TEST(Authorizer, ServiceAccountsGetWhatTheirBindingsGrantAndNothingElse) {
  RbacAuthorizer rbac;
  Authorizer a({{}, &rbac});
  UserInfo sa{"system:serviceaccount:shop:buyer", {"system:serviceaccounts", "system:serviceaccounts:shop", kAuthenticated}, "cart-1", "uid-1"};
  // Without a binding: discovery only (no special read-only rule any more).
  EXPECT_TRUE(ask(a, sa, "GET", "/apis").allowed);
  EXPECT_FALSE(ask(a, sa, "GET", "/api/v1/namespaces/shop/pods").allowed);
  json::value role = json::parse(R"({"rules":[{"apiGroups":[""],"resources":["pods","pods/log"],"verbs":["get","list"]}]})");
  json::value binding = json::parse(R"({"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"reader"},
                                        "subjects":[{"kind":"ServiceAccount","name":"buyer"}]})");
  rbac.set(RbacKind::Role, "shop", "reader", &role);
  rbac.set(RbacKind::RoleBinding, "shop", "buyer-reads", &binding);
  EXPECT_TRUE(ask(a, sa, "GET", "/api/v1/namespaces/shop/pods").allowed);
  EXPECT_TRUE(ask(a, sa, "GET", "/api/v1/namespaces/shop/pods/cart-1/log").allowed);
  EXPECT_FALSE(ask(a, sa, "GET", "/api/v1/namespaces/shop/pods", "", "true").allowed);  // watch not granted
  EXPECT_FALSE(ask(a, sa, "GET", "/api/v1/namespaces/shop/secrets").allowed);
  EXPECT_FALSE(ask(a, sa, "GET", "/api/v1/namespaces/other/pods").allowed);
  EXPECT_FALSE(ask(a, sa, "GET", "/api/v1/pods").allowed);
  Decision d = ask(a, sa, "DELETE", "/api/v1/namespaces/shop/pods/cart-1");
  EXPECT_FALSE(d.allowed);
  EXPECT_NE(d.reason.find("User \"system:serviceaccount:shop:buyer\" cannot delete resource \"pods\""), std::string::npos) << d.reason;
  EXPECT_FALSE(ask(a, sa, "GET", "/metrics").allowed);
  rbac.set(RbacKind::RoleBinding, "shop", "buyer-reads", nullptr);
  EXPECT_FALSE(ask(a, sa, "GET", "/api/v1/namespaces/shop/pods").allowed);
}

TEST(Authorizer, NodesAndBootstrappersFallBackToRbac) {
  RbacAuthorizer rbac;
  Authorizer a({{}, &rbac});
  UserInfo node{"system:node:n1", {kNodesGroup, kAuthenticated}, "", ""};
  EXPECT_FALSE(ask(a, node, "GET", "/api/v1/namespaces/shop/configmaps").allowed);
  json::value role = json::parse(R"({"rules":[{"apiGroups":[""],"resources":["configmaps"],"verbs":["list"]}]})");
  json::value binding = json::parse(R"({"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"cm"},
                                        "subjects":[{"kind":"Group","name":"system:nodes","apiGroup":"rbac.authorization.k8s.io"}]})");
  rbac.set(RbacKind::ClusterRole, "", "cm", &role);
  rbac.set(RbacKind::ClusterRoleBinding, "", "nodes-cm", &binding);
  EXPECT_TRUE(ask(a, node, "GET", "/api/v1/namespaces/shop/configmaps").allowed);
}

TEST(Authorizer, NodesTouchOnlyTheirOwnAndWhatTheirPodsUse) {
  json::value pod = json::parse(R"({"metadata":{"namespace":"shop","name":"web-1"},
    "spec":{"nodeName":"n1","serviceAccountName":"web","imagePullSecrets":[{"name":"pull"}],
      "volumes":[{"name":"a","secret":{"secretName":"tls"}},{"name":"b","configMap":{"name":"conf"}},
                 {"name":"c","persistentVolumeClaim":{"claimName":"data"}},
                 {"name":"d","projected":{"sources":[{"secret":{"name":"proj"}}]}}],
      "containers":[{"name":"c","env":[{"name":"X","valueFrom":{"secretKeyRef":{"name":"envsec","key":"k"}}}],
                     "envFrom":[{"configMapRef":{"name":"envcm"}}]}]}})");
  Authorizer a({[&](const std::string& node) {
    std::vector<PodReferences> out;
    if (node == "n1") out.push_back(podReferencesOf(pod));
    return out;
  }});
  UserInfo n1{"system:node:n1", {kNodesGroup, kAuthenticated}, "", ""};
  UserInfo n2{"system:node:n2", {kNodesGroup, kAuthenticated}, "", ""};
  EXPECT_TRUE(ask(a, n1, "GET", "/api/v1/pods", "", "true").allowed);
  EXPECT_TRUE(ask(a, n1, "GET", "/api/v1/services").allowed);
  EXPECT_TRUE(ask(a, n1, "GET", "/apis/gateway.networking.k8s.io/v1/httproutes").allowed);
  EXPECT_TRUE(ask(a, n1, "PUT", "/api/v1/nodes/n1/status").allowed);
  EXPECT_FALSE(ask(a, n1, "PUT", "/api/v1/nodes/n2/status").allowed);
  EXPECT_FALSE(ask(a, n1, "DELETE", "/api/v1/nodes/n2").allowed);
  EXPECT_TRUE(ask(a, n1, "PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1").allowed);
  EXPECT_FALSE(ask(a, n1, "PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n2").allowed);
  EXPECT_TRUE(ask(a, n1, "PATCH", "/api/v1/namespaces/shop/pods/web-1/status").allowed);
  EXPECT_FALSE(ask(a, n2, "PATCH", "/api/v1/namespaces/shop/pods/web-1/status").allowed);
  EXPECT_FALSE(ask(a, n1, "PATCH", "/api/v1/namespaces/shop/pods/web-1").allowed);  // spec is not the node's
  EXPECT_FALSE(ask(a, n1, "POST", "/api/v1/namespaces/shop/pods").allowed);
  for (std::string path : {"secrets/tls", "secrets/pull", "secrets/proj", "secrets/envsec", "configmaps/conf", "configmaps/envcm",
                           "persistentvolumeclaims/data", "serviceaccounts/web"}) {
    EXPECT_TRUE(ask(a, n1, "GET", "/api/v1/namespaces/shop/" + path).allowed) << path;
    Decision d = ask(a, n2, "GET", "/api/v1/namespaces/shop/" + path);
    EXPECT_FALSE(d.allowed) << path;
    EXPECT_NE(d.reason.find("no relationship found between node 'n2'"), std::string::npos) << d.reason;
  }
  EXPECT_FALSE(ask(a, n1, "GET", "/api/v1/namespaces/shop/secrets/other").allowed);
  EXPECT_FALSE(ask(a, n1, "GET", "/api/v1/namespaces/other/secrets/tls").allowed);
  EXPECT_FALSE(ask(a, n1, "GET", "/api/v1/namespaces/shop/secrets").allowed);
  EXPECT_TRUE(ask(a, n1, "GET", "/api/v1/secrets", "type=kubernetes.io/tls", "true").allowed);
  EXPECT_TRUE(ask(a, n1, "POST", "/api/v1/namespaces/shop/serviceaccounts/web/token").allowed);
  EXPECT_FALSE(ask(a, n1, "POST", "/api/v1/namespaces/shop/serviceaccounts/default/token").allowed);
  EXPECT_TRUE(ask(a, n1, "POST", "/apis/certificates.k8s.io/v1/certificatesigningrequests").allowed);
  EXPECT_TRUE(ask(a, n1, "POST", "/api/v1/namespaces/shop/events").allowed);
  EXPECT_FALSE(ask(a, n1, "DELETE", "/api/v1/namespaces/shop").allowed);
  EXPECT_TRUE(ask(a, n1, "PATCH", "/apis/gateway.networking.k8s.io/v1/gatewayclasses/skiff/status").allowed);
  EXPECT_FALSE(ask(a, n1, "PATCH", "/apis/gateway.networking.k8s.io/v1/gatewayclasses/skiff").allowed);
  EXPECT_FALSE(ask(a, n1, "GET", "/apis/apps/v1/deployments").allowed);
  // A certificate naming a node without the group is not a node.
  UserInfo impostor{"system:node:n1", {kAuthenticated}, "", ""};
  EXPECT_FALSE(ask(a, impostor, "GET", "/api/v1/namespaces/shop/secrets/tls").allowed);
}

TEST(Authorizer, BootstrappersOnlyAskForCertificatesAndAnonymousOnlyReadsClusterInfo) {
  Authorizer a({});
  UserInfo boot{"system:bootstrap:abcdef", {kBootstrappers, kAuthenticated}, "", ""};
  EXPECT_TRUE(ask(a, boot, "POST", "/apis/certificates.k8s.io/v1/certificatesigningrequests").allowed);
  EXPECT_TRUE(ask(a, boot, "GET", "/apis/certificates.k8s.io/v1/certificatesigningrequests/node-csr-x").allowed);
  EXPECT_FALSE(ask(a, boot, "PUT", "/apis/certificates.k8s.io/v1/certificatesigningrequests/node-csr-x/approval").allowed);
  EXPECT_FALSE(ask(a, boot, "GET", "/api/v1/pods").allowed);
  UserInfo anon{kAnonymous, {kUnauthenticated}, "", ""};
  EXPECT_TRUE(ask(a, anon, "GET", "/api/v1/namespaces/kube-public/configmaps/cluster-info").allowed);
  EXPECT_FALSE(ask(a, anon, "GET", "/api/v1/namespaces/kube-public/configmaps").allowed);
  EXPECT_FALSE(ask(a, anon, "GET", "/api/v1/namespaces/kube-system/configmaps/cluster-info").allowed);
  EXPECT_FALSE(ask(a, anon, "GET", "/apis").allowed);
  UserInfo admin{"system:admin", {kMasters, kAuthenticated}, "", ""};
  EXPECT_TRUE(ask(a, admin, "DELETE", "/api/v1/nodes/n1").allowed);
}

}  // namespace
}  // namespace skiff::auth
