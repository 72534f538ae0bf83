// Git push webhooks at /api/webhook, as Argo CD's API server takes them: GitHub, GitLab and Gitea
// push events name the repository that changed, and every Application on it refreshes at once
// instead of at its next poll.
//
// Served without the API token (Git hosts cannot send one); a sender proves itself with the
// configured secret — GitHub's X-Hub-Signature-256 (HMAC-SHA256 of the body), Gitea's
// X-Gitea-Signature (the same HMAC, bare hex), GitLab's X-Gitlab-Token (the secret itself).
// With no secret configured for a provider, its payloads are accepted unsigned, as Argo CD does.
// Bodies are bounded (kMaxWebhookBytes); anything that is not a push is acknowledged and ignored.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/result.h"
#include "http/http.h"

namespace skiff::gitops {

inline constexpr size_t kMaxWebhookBytes = 1 << 20;

struct WebhookSecrets {
  std::string github, gitlab, gitea;
};

// What a push said: the repository's URLs (clone, html, ssh, as the provider lists them) and the
// ref pushed ("refs/heads/main"); empty urls when the event is not a push.
struct PushEvent {
  std::string provider;  // github, gitlab, gitea
  std::vector<std::string> repositoryUrls;
  std::string ref;
};

// Checks the request's signature against `secrets` and reads the push. A bad or missing
// signature (when a secret is set) or a body that is not JSON is an error (400).
Result<PushEvent> parseWebhook(const std::map<std::string, std::string>& headers, const std::string& body, const WebhookSecrets& secrets);

// HMAC-SHA256 of `body` with `secret`, lower-case hex.
std::string hmacSha256Hex(const std::string& secret, const std::string& body);

// The HTTP handler: parses, then hands the push to `onPush`; the secrets are read per request
// (a Secret can change while skiff runs).
void serveWebhook(http::Exchange& exchange, const std::function<WebhookSecrets()>& secrets,
                  const std::function<size_t(const PushEvent&)>& onPush);

}  // namespace skiff::gitops
