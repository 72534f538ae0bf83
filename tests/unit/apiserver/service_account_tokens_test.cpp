#include "apiserver/service_account_tokens.h"

#include <gtest/gtest.h>

namespace skiff::apiserver {
namespace {

TEST(ServiceAccountTokens, IssuedTokensVerifyAndForgeriesDoNot) {
  ServiceAccountTokens tokens(std::string(32, 'k'));
  ServiceAccountIdentity who{"shop", "buyer", "cart-1", "uid-1"};
  std::string t = tokens.issue(who, 600);
  auto back = tokens.verify(t);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->user(), "system:serviceaccount:shop:buyer");
  EXPECT_EQ(back->pod, "cart-1");
  EXPECT_EQ(back->podUid, "uid-1");
  EXPECT_FALSE(tokens.verify(t.substr(0, t.size() - 1) + (t.back() == 'A' ? "B" : "A")));  // signature changed
  std::string other = ServiceAccountTokens(std::string(32, 'x')).issue(who, 600);
  EXPECT_FALSE(tokens.verify(other));  // another key
  EXPECT_FALSE(tokens.verify(tokens.issue(who, -1)));  // expired
  EXPECT_FALSE(tokens.verify("not.a.jwt.at.all"));
  EXPECT_FALSE(tokens.verify(""));
}

TEST(ServiceAccountTokens, ReadOnlyInTheirNamespaceWithoutSecrets) {
  ServiceAccountIdentity who{"shop", "buyer", "cart-1", "uid-1"};
  std::string why;
  auto may = [&](const std::string& method, std::vector<std::string> parts) { return serviceAccountMay(who, method, parts, why); };
  EXPECT_TRUE(may("GET", {"api", "v1", "namespaces", "shop", "pods"}));
  EXPECT_TRUE(may("GET", {"apis", "apps", "v1", "namespaces", "shop", "deployments", "web"}));
  EXPECT_TRUE(may("GET", {"api", "v1", "namespaces", "shop", "pods", "cart-1", "log"}));
  EXPECT_TRUE(may("GET", {"apis"}));
  EXPECT_TRUE(may("GET", {"version"}));
  EXPECT_FALSE(may("GET", {"api", "v1", "namespaces", "shop", "secrets"}));
  EXPECT_FALSE(may("GET", {"api", "v1", "namespaces", "shop", "pods", "cart-1", "exec"}));
  EXPECT_FALSE(may("GET", {"api", "v1", "namespaces", "other", "pods"}));
  EXPECT_FALSE(may("GET", {"api", "v1", "pods"}));
  EXPECT_FALSE(may("GET", {"api", "v1", "nodes"}));
  EXPECT_FALSE(may("DELETE", {"api", "v1", "namespaces", "shop", "pods", "cart-1"}));
  EXPECT_NE(why.find("User \"system:serviceaccount:shop:buyer\" cannot delete resource \"pods\""), std::string::npos) << why;
  EXPECT_FALSE(may("GET", {"metrics"}));
}

}  // namespace
}  // namespace skiff::apiserver
