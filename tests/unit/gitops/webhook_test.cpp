#include "gitops/webhook.h"

#include <gtest/gtest.h>

namespace skiff::gitops {

namespace {
const std::string kPush = R"({"ref":"refs/heads/main","repository":{"clone_url":"https://git.example/team/apps.git","html_url":"https://git.example/team/apps"}})";
}

TEST(GitOpsWebhook, HmacMatchesTheKnownVector) {
  // RFC 4231 test case 2.
  EXPECT_EQ(hmacSha256Hex("Jefe", "what do ya want for nothing?"), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(GitOpsWebhook, GitHubSignatureChecked) {
  WebhookSecrets secrets{"s3cret", "", ""};
  std::map<std::string, std::string> headers{{"x-github-event", "push"}, {"x-hub-signature-256", "sha256=" + hmacSha256Hex("s3cret", kPush)}};
  auto ok = parseWebhook(headers, kPush, secrets);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->provider, "github");
  EXPECT_EQ(ok->ref, "refs/heads/main");
  EXPECT_EQ(ok->repositoryUrls, (std::vector<std::string>{"https://git.example/team/apps", "https://git.example/team/apps.git"}));
  headers["x-hub-signature-256"] = "sha256=" + hmacSha256Hex("wrong", kPush);
  auto bad = parseWebhook(headers, kPush, secrets);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, 400);
  headers.erase("x-hub-signature-256");
  EXPECT_FALSE(parseWebhook(headers, kPush, secrets).ok());
  // Without a configured secret, unsigned pushes are taken (as Argo CD does).
  EXPECT_TRUE(parseWebhook(headers, kPush, WebhookSecrets{}).ok());
}

TEST(GitOpsWebhook, GitLabTokenAndGiteaSignature) {
  std::string gitlab = R"({"ref":"refs/heads/main","project":{"web_url":"https://gl.example/g/apps","git_http_url":"https://gl.example/g/apps.git"}})";
  WebhookSecrets secrets{"", "tok", "gt"};
  auto ok = parseWebhook({{"x-gitlab-event", "Push Hook"}, {"x-gitlab-token", "tok"}}, gitlab, secrets);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->repositoryUrls.size(), 2u);
  EXPECT_FALSE(parseWebhook({{"x-gitlab-event", "Push Hook"}, {"x-gitlab-token", "nope"}}, gitlab, secrets).ok());
  auto gitea = parseWebhook({{"x-gitea-event", "push"}, {"x-github-event", "push"}, {"x-gitea-signature", hmacSha256Hex("gt", kPush)}}, kPush, secrets);
  ASSERT_TRUE(gitea.ok()) << gitea.error().message;
  EXPECT_EQ(gitea->provider, "gitea");
  EXPECT_FALSE(parseWebhook({{"x-gitea-event", "push"}, {"x-gitea-signature", "00"}}, kPush, secrets).ok());
}

TEST(GitOpsWebhook, OtherEventsAndBadBodies) {
  auto ping = parseWebhook({{"x-github-event", "ping"}}, R"({"zen":"hi"})", {});
  ASSERT_TRUE(ping.ok());
  EXPECT_TRUE(ping->repositoryUrls.empty());
  EXPECT_FALSE(parseWebhook({{"x-github-event", "push"}}, "not json", {}).ok());
  EXPECT_FALSE(parseWebhook({}, kPush, {}).ok());  // no provider header
  EXPECT_FALSE(parseWebhook({{"x-github-event", "push"}}, std::string(kMaxWebhookBytes + 1, ' '), {}).ok());
}

}  // namespace skiff::gitops
