#include "auth/bootstrap_token.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "common/base64.h"

namespace skiff::auth {
namespace {
namespace json = boost::json;

TEST(BootstrapToken, FormAndSecretRoundTrip) {
  TokenParts t = generateBootstrapToken();
  auto parsed = parseBootstrapToken(t.id + "." + t.secret);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->id, t.id);
  EXPECT_FALSE(parseBootstrapToken("abcdef.0123456789abcdeF"));  // upper case
  EXPECT_FALSE(parseBootstrapToken("abcde.0123456789abcdef0"));
  EXPECT_FALSE(parseBootstrapToken("eyJhbGciOiJIUzI1NiJ9.e30.sig"));
  auto back = bootstrapTokenFromSecret(bootstrapTokenSecret(t, {kNodeTokenGroup}, "test"));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->secret, t.secret);
  EXPECT_TRUE(back->authentication);
  EXPECT_TRUE(back->signing);
  EXPECT_FALSE(back->expiration);
  ASSERT_EQ(back->extraGroups.size(), 1u);
}

TEST(BootstrapToken, RefusesGroupsOutsideBootstrappersAndReadsExpiry) {
  json::value s = bootstrapTokenSecret({"abcdef", "0123456789abcdef"}, {}, "");
  s.as_object()["data"].as_object()["auth-extra-groups"] = base64Encode("system:masters");
  EXPECT_FALSE(bootstrapTokenFromSecret(s));
  s.as_object()["data"].as_object().erase("auth-extra-groups");
  s.as_object()["data"].as_object()["expiration"] = base64Encode("2020-01-01T00:00:00Z");
  auto t = bootstrapTokenFromSecret(s);
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->expired(std::chrono::system_clock::now()));
  s.as_object()["metadata"].as_object()["name"] = "bootstrap-token-zzzzzz";
  EXPECT_FALSE(bootstrapTokenFromSecret(s));  // the name must carry the id
}

TEST(BootstrapToken, DetachedSignatureBindsPayloadAndSecret) {
  TokenParts t{"abcdef", "0123456789abcdef"};
  std::string jws = signDetachedJws("kubeconfig body", t);
  EXPECT_NE(jws.find(".."), std::string::npos);
  EXPECT_TRUE(verifyDetachedJws(jws, "kubeconfig body", t));
  EXPECT_FALSE(verifyDetachedJws(jws, "kubeconfig body with another CA", t));
  EXPECT_FALSE(verifyDetachedJws(jws, "kubeconfig body", {"abcdef", "0123456789abcdee"}));
  EXPECT_FALSE(verifyDetachedJws(jws, "kubeconfig body", {"abcdeg", "0123456789abcdef"}));
  EXPECT_FALSE(verifyDetachedJws("garbage", "kubeconfig body", t));
}

}  // namespace
}  // namespace skiff::auth
