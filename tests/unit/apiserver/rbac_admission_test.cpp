#include "apiserver/rbac_admission.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace skiff::apiserver {
namespace {
namespace json = boost::json;
using auth::RbacKind;

struct Fixture {
  auth::RbacAuthorizer rbac;
  auth::Authorizer authorizer{auth::ClusterView{{}, &rbac}};
  auth::UserInfo bob{"bob", {auth::kAuthenticated}, "", ""};
  Fixture() {
    json::value podsRole = json::parse(R"({"rules":[{"apiGroups":[""],"resources":["pods"],"verbs":["get","list"]},
                                                     {"apiGroups":["rbac.authorization.k8s.io"],"resources":["roles","rolebindings"],"verbs":["create"]}]})");
    json::value binding = json::parse(R"({"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"pods"},
                                          "subjects":[{"kind":"User","name":"bob","apiGroup":"rbac.authorization.k8s.io"}]})");
    rbac.set(RbacKind::ClusterRole, "", "pods", &podsRole);
    rbac.set(RbacKind::RoleBinding, "shop", "bob", &binding);
  }
  Status write(const char* kind, const char* body) {
    const api::ResourceType* type = api::findByKind("rbac.authorization.k8s.io/v1", kind);
    return admitRbacWrite(authorizer, rbac, *type, "shop", json::parse(body), bob);
  }
};

TEST(RbacAdmission, AWriterGrantsOnlyWhatItHolds) {
  Fixture f;
  EXPECT_TRUE(f.write("Role", R"({"metadata":{"name":"r"},"rules":[{"apiGroups":[""],"resources":["pods"],"verbs":["get"]}]})"));
  Status s = f.write("Role", R"({"metadata":{"name":"r"},"rules":[{"apiGroups":[""],"resources":["pods","secrets"],"verbs":["get"]}]})");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, 403);
  EXPECT_NE(s.error().message.find(R"(user "bob" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:)"),
            std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find(R"({APIGroups:[""], Resources:["secrets"], Verbs:["get"]})"), std::string::npos);
  EXPECT_EQ(s.error().message.find(R"(Resources:["pods"])"), std::string::npos);  // held: not listed as missing
}

TEST(RbacAdmission, BindingsNeedTheRolesRulesOrTheBindVerb) {
  Fixture f;
  EXPECT_TRUE(f.write("RoleBinding", R"({"metadata":{"name":"b"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"pods"},
                                         "subjects":[{"kind":"User","name":"carol","apiGroup":"rbac.authorization.k8s.io"}]})"));
  json::value admin = json::parse(R"({"rules":[{"apiGroups":["*"],"resources":["*"],"verbs":["*"]}]})");
  f.rbac.set(RbacKind::ClusterRole, "", "cluster-admin", &admin);
  const char* bindAdmin = R"({"metadata":{"name":"b"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"cluster-admin"},
                              "subjects":[{"kind":"User","name":"carol","apiGroup":"rbac.authorization.k8s.io"}]})";
  EXPECT_FALSE(f.write("RoleBinding", bindAdmin));
  // The bind verb on that role lets a holder grant it without holding it.
  json::value binder = json::parse(R"({"rules":[{"apiGroups":["rbac.authorization.k8s.io"],"resources":["clusterroles"],"verbs":["bind"],"resourceNames":["cluster-admin"]}]})");
  json::value binding = json::parse(R"({"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"binder"},
                                        "subjects":[{"kind":"User","name":"bob","apiGroup":"rbac.authorization.k8s.io"}]})");
  f.rbac.set(RbacKind::ClusterRole, "", "binder", &binder);
  f.rbac.set(RbacKind::RoleBinding, "shop", "bob-binds", &binding);
  EXPECT_TRUE(f.write("RoleBinding", bindAdmin));
  // A role that does not exist: only those allowed to bind it.
  Status s = f.write("RoleBinding", R"({"metadata":{"name":"b"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"later"},
                                        "subjects":[{"kind":"User","name":"carol","apiGroup":"rbac.authorization.k8s.io"}]})");
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("not found"), std::string::npos);
}

TEST(RbacAdmission, ValidationNamesFieldsAndKeepsRoleRef) {
  const api::ResourceType* rb = api::findByKind("rbac.authorization.k8s.io/v1", "RoleBinding");
  json::value a = json::parse(R"({"metadata":{"name":"b"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"x"},"subjects":[]})");
  json::value b = json::parse(R"({"metadata":{"name":"b"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"y"},"subjects":[]})");
  EXPECT_TRUE(rbacCauses(*rb, a, nullptr).empty());
  auto causes = rbacCauses(*rb, b, &a);
  ASSERT_EQ(causes.size(), 1u);
  EXPECT_EQ(causes[0].field, "roleRef");
  const api::ResourceType* role = api::findByKind("rbac.authorization.k8s.io/v1", "Role");
  causes = rbacCauses(*role, json::parse(R"({"rules":[{"apiGroups":[""],"resources":["pods"]}]})"), nullptr);
  ASSERT_FALSE(causes.empty());
  EXPECT_EQ(causes[0].field, "rules[0].verbs");
}

}  // namespace
}  // namespace skiff::apiserver
