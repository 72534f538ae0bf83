#include "auth/rbac_authorizer.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace skiff::auth {
namespace {
namespace json = boost::json;

bool can(const RbacAuthorizer& r, const UserInfo& u, const std::string& method, const std::string& path) {
  return r.allows(u, requestInfoOf(method, path, "", ""));
}

json::value j(const char* text) { return json::parse(text); }

TEST(RbacAuthorizer, RoleBindingsReachOnlyTheirNamespaceAndClusterBindingsEverywhere) {
  RbacAuthorizer rbac;
  UserInfo alice{"alice", {"dev", kAuthenticated}, "", ""};
  json::value edit = j(R"({"rules":[{"apiGroups":["apps"],"resources":["deployments"],"verbs":["*"]}]})");
  rbac.set(RbacKind::ClusterRole, "", "deploy-edit", &edit);
  json::value rb = j(R"({"roleRef":{"kind":"ClusterRole","name":"deploy-edit","apiGroup":"rbac.authorization.k8s.io"},
                         "subjects":[{"kind":"User","name":"alice","apiGroup":"rbac.authorization.k8s.io"}]})");
  rbac.set(RbacKind::RoleBinding, "shop", "alice-edit", &rb);
  EXPECT_TRUE(can(rbac, alice, "DELETE", "/apis/apps/v1/namespaces/shop/deployments/web"));
  EXPECT_FALSE(can(rbac, alice, "DELETE", "/apis/apps/v1/namespaces/bank/deployments/web"));
  EXPECT_FALSE(can(rbac, alice, "GET", "/apis/apps/v1/deployments"));  // all namespaces: cluster scope
  json::value crb = j(R"({"roleRef":{"kind":"ClusterRole","name":"deploy-edit","apiGroup":"rbac.authorization.k8s.io"},
                          "subjects":[{"kind":"Group","name":"dev","apiGroup":"rbac.authorization.k8s.io"}]})");
  rbac.set(RbacKind::ClusterRoleBinding, "", "dev-edit", &crb);
  EXPECT_TRUE(can(rbac, alice, "GET", "/apis/apps/v1/deployments"));
  EXPECT_TRUE(can(rbac, alice, "DELETE", "/apis/apps/v1/namespaces/bank/deployments/web"));
  EXPECT_FALSE(can(rbac, alice, "GET", "/api/v1/namespaces/bank/secrets"));
}

TEST(RbacAuthorizer, ABindingGrantsOnceItsRoleExistsAndStopsWhenItGoes) {
  RbacAuthorizer rbac;
  UserInfo bob{"bob", {kAuthenticated}, "", ""};
  json::value rb = j(R"({"roleRef":{"kind":"Role","name":"later","apiGroup":"rbac.authorization.k8s.io"},
                         "subjects":[{"kind":"User","name":"bob","apiGroup":"rbac.authorization.k8s.io"}]})");
  rbac.set(RbacKind::RoleBinding, "shop", "bob", &rb);
  EXPECT_FALSE(can(rbac, bob, "GET", "/api/v1/namespaces/shop/configmaps"));
  json::value role = j(R"({"rules":[{"apiGroups":[""],"resources":["configmaps"],"verbs":["get","list"]}]})");
  rbac.set(RbacKind::Role, "shop", "later", &role);
  EXPECT_TRUE(can(rbac, bob, "GET", "/api/v1/namespaces/shop/configmaps"));
  // A Role of the same name in another namespace is another role.
  EXPECT_FALSE(can(rbac, bob, "GET", "/api/v1/namespaces/bank/configmaps"));
  rbac.set(RbacKind::Role, "shop", "later", nullptr);
  EXPECT_FALSE(can(rbac, bob, "GET", "/api/v1/namespaces/shop/configmaps"));
}

TEST(RbacAuthorizer, NonResourceUrlsAndRulesForAUser) {
  RbacAuthorizer rbac;
  UserInfo mon{"prom", {"system:monitoring", kAuthenticated}, "", ""};
  json::value role = j(R"({"rules":[{"nonResourceURLs":["/metrics","/debug/*"],"verbs":["get"]}]})");
  json::value crb = j(R"({"roleRef":{"kind":"ClusterRole","name":"monitoring","apiGroup":"rbac.authorization.k8s.io"},
                          "subjects":[{"kind":"Group","name":"system:monitoring","apiGroup":"rbac.authorization.k8s.io"}]})");
  rbac.set(RbacKind::ClusterRole, "", "monitoring", &role);
  rbac.set(RbacKind::ClusterRoleBinding, "", "monitoring", &crb);
  EXPECT_TRUE(can(rbac, mon, "GET", "/metrics"));
  EXPECT_TRUE(can(rbac, mon, "GET", "/debug/pprof"));
  EXPECT_FALSE(can(rbac, mon, "POST", "/metrics"));
  EXPECT_FALSE(can(rbac, mon, "GET", "/metrics/cadvisor"));
  auto rules = rbac.rulesFor(mon, "shop");
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_EQ(rules[0].nonResourceURLs.size(), 2u);
  EXPECT_TRUE(rbac.rulesFor(UserInfo{"other", {kAuthenticated}, "", ""}, "shop").empty());
}

TEST(RbacAuthorizer, MalformedObjectsGrantNothing) {
  RbacAuthorizer rbac;
  UserInfo u{"u", {kAuthenticated}, "", ""};
  json::value role = j(R"({"rules":[{"apiGroups":[""],"resources":["pods"]}]})");  // no verbs: invalid
  json::value rb = j(R"({"roleRef":{"kind":"Role","name":"r","apiGroup":"rbac.authorization.k8s.io"},
                         "subjects":[{"kind":"User","name":"u","apiGroup":"rbac.authorization.k8s.io"}]})");
  rbac.set(RbacKind::Role, "ns", "r", &role);
  rbac.set(RbacKind::RoleBinding, "ns", "b", &rb);
  EXPECT_FALSE(can(rbac, u, "GET", "/api/v1/namespaces/ns/pods"));
  json::value bad = j(R"({"roleRef":"nope"})");
  rbac.set(RbacKind::RoleBinding, "ns", "b", &bad);
  EXPECT_FALSE(can(rbac, u, "GET", "/api/v1/namespaces/ns/pods"));
}

}  // namespace
}  // namespace skiff::auth
