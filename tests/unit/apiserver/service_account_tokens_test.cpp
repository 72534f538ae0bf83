#include "apiserver/service_account_tokens.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <chrono>

#include "common/base64.h"

namespace skiff::apiserver {
namespace {

std::string b64url(std::string_view in) {
  std::string s = base64Encode(in);
  for (char& c : s) c = c == '+' ? '-' : c == '/' ? '_' : c;
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

// A token signed with `key` whose claims the test chooses (issue() only makes valid ones).
std::string craft(const std::string& key, const std::string& claims) {
  std::string input = b64url(R"({"alg":"HS256","typ":"JWT"})") + "." + b64url(claims);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), int(key.size()), reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
  return input + "." + b64url(std::string_view(reinterpret_cast<const char*>(mac), len));
}

TEST(ServiceAccountTokens, OnlyTokensForThisApiAndAlreadyValidAreAccepted) {
  std::string key(32, 'k');
  ServiceAccountTokens tokens(key);
  ServiceAccountIdentity who{"shop", "buyer", "cart-1", "uid-1"};
  EXPECT_FALSE(tokens.verify(tokens.issue(who, 600, "vault")));  // a token for someone else
  EXPECT_TRUE(tokens.verify(tokens.issue(who, 600, "skiff")));
  EXPECT_TRUE(tokens.verify(tokens.issue(who, 600, "https://kubernetes.default.svc.cluster.local")));
  int64_t now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  std::string k8s = R"("kubernetes.io":{"namespace":"shop","serviceaccount":{"name":"buyer"},"pod":{"name":"cart-1","uid":"uid-1"}})";
  auto claims = [&](const std::string& extra) { return "{" + k8s + ",\"exp\":" + std::to_string(now + 600) + extra + "}"; };
  EXPECT_TRUE(tokens.verify(craft(key, claims(R"(,"aud":"skiff","nbf":)" + std::to_string(now)))));
  EXPECT_FALSE(tokens.verify(craft(key, claims(R"(,"aud":"skiff","nbf":)" + std::to_string(now + 3600)))));  // not yet valid
  EXPECT_FALSE(tokens.verify(craft(key, claims(""))));                                                        // no audience
  EXPECT_FALSE(tokens.verify(craft(key, claims(R"(,"aud":["vault","other"])"))));
  EXPECT_TRUE(tokens.verify(craft(key, claims(R"(,"aud":["vault","skiff"])"))));
}

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

}  // namespace
}  // namespace skiff::apiserver
