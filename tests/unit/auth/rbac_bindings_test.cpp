#include "auth/rbac_bindings.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace skiff::auth {
namespace {
namespace json = boost::json;

std::vector<std::string> fieldsOf(const Error& e) {
  std::vector<std::string> out;
  for (const auto& c : e.causes) out.push_back(c.field);
  return out;
}

UserInfo user(std::string name, std::vector<std::string> groups) {
  UserInfo u;
  u.name = std::move(name);
  u.groups = std::move(groups);
  return u;
}

TEST(RbacBindings, SubjectsApplyAsKubernetes) {
  auto b = parseBinding(json::parse(R"({"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"view"},
    "subjects":[{"kind":"User","apiGroup":"rbac.authorization.k8s.io","name":"alice"},
                {"kind":"Group","apiGroup":"rbac.authorization.k8s.io","name":"auditors"},
                {"kind":"ServiceAccount","name":"ci"}]})"),
                        true);
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_TRUE(appliesTo(*b, user("alice", {}), "shop"));
  EXPECT_FALSE(appliesTo(*b, user("bob", {"system:authenticated"}), "shop"));
  EXPECT_TRUE(appliesTo(*b, user("bob", {"auditors"}), "shop"));
  // A ServiceAccount subject without a namespace is in the RoleBinding's namespace.
  EXPECT_TRUE(appliesTo(*b, user("system:serviceaccount:shop:ci", {}), "shop"));
  EXPECT_FALSE(appliesTo(*b, user("system:serviceaccount:other:ci", {}), "shop"));
}

TEST(RbacBindings, MalformedBindingsNameEachField) {
  auto b = parseBinding(json::parse(R"({"roleRef":{"apiGroup":"rbac","kind":"Role","name":""},
    "subjects":[{"kind":"Robot","name":"r2"},{"kind":"User","name":""},{"kind":"ServiceAccount","name":"ci"}]})"),
                        false);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().code, 422);
  EXPECT_EQ(fieldsOf(b.error()), (std::vector<std::string>{"roleRef.apiGroup", "roleRef.kind", "roleRef.name", "subjects[0].kind",
                                                           "subjects[1].name", "subjects[1].apiGroup", "subjects[2].namespace"}));
  EXPECT_NE(b.error().message.find("roleRef.kind: Unsupported value: supported values: \"ClusterRole\""), std::string::npos);
  auto noRef = parseBinding(json::parse(R"({"subjects":[]})"), true);
  ASSERT_FALSE(noRef.ok());
  EXPECT_EQ(fieldsOf(noRef.error()), std::vector<std::string>{"roleRef"});
}

TEST(RbacBindings, ABindingToAMissingRoleIsValid) {
  // Nothing here looks the role up: Kubernetes accepts it and it grants nothing until it exists.
  auto b = parseBinding(json::parse(R"({"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"not-yet"}})"), true);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->roleRef.name, "not-yet");
  EXPECT_FALSE(appliesTo(*b, user("alice", {}), "shop"));
}

}  // namespace
}  // namespace skiff::auth
