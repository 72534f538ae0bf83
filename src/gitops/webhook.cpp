#include "gitops/webhook.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <boost/json.hpp>

#include "api/codec.h"
#include "api/object.h"
#include "common/log.h"

namespace skiff::gitops {
namespace json = boost::json;
namespace {

std::string header(const std::map<std::string, std::string>& headers, const std::string& lowerName) {
  auto it = headers.find(lowerName);
  return it == headers.end() ? "" : it->second;
}

bool sameSecret(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

void addUrl(PushEvent& e, const json::value& payload, std::string_view path) {
  std::string url = api::stringAt(payload, path);
  if (!url.empty()) e.repositoryUrls.push_back(url);
}

json::value message(const std::string& text) { return json::object{{"message", text}}; }

}  // namespace

std::string hmacSha256Hex(const std::string& secret, const std::string& body) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), int(secret.size()), reinterpret_cast<const unsigned char*>(body.data()), body.size(), digest, &length);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

Result<PushEvent> parseWebhook(const std::map<std::string, std::string>& headers, const std::string& body, const WebhookSecrets& secrets) {
  if (body.size() > kMaxWebhookBytes) return Error::badRequest("webhook payload larger than 1 MiB");
  PushEvent event;
  std::string eventType;
  // Gitea also sends X-GitHub-Event (and a GitHub-style signature): its own headers decide first.
  if (!header(headers, "x-gitea-event").empty()) {
    event.provider = "gitea";
    eventType = header(headers, "x-gitea-event");
    if (!secrets.gitea.empty() && !sameSecret(header(headers, "x-gitea-signature"), hmacSha256Hex(secrets.gitea, body)))
      return Error::badRequest("Gitea webhook signature (X-Gitea-Signature) does not match the configured secret");
  } else if (!header(headers, "x-github-event").empty()) {
    event.provider = "github";
    eventType = header(headers, "x-github-event");
    if (!secrets.github.empty() && !sameSecret(header(headers, "x-hub-signature-256"), "sha256=" + hmacSha256Hex(secrets.github, body)))
      return Error::badRequest("GitHub webhook signature (X-Hub-Signature-256) does not match the configured secret");
  } else if (!header(headers, "x-gitlab-event").empty()) {
    event.provider = "gitlab";
    eventType = header(headers, "x-gitlab-event");
    if (!secrets.gitlab.empty() && !sameSecret(header(headers, "x-gitlab-token"), secrets.gitlab))
      return Error::badRequest("GitLab webhook token (X-Gitlab-Token) does not match the configured secret");
  } else {
    return Error::badRequest("unknown webhook: expected a GitHub (X-GitHub-Event), GitLab (X-Gitlab-Event) or Gitea (X-Gitea-Event) push");
  }
  auto payload = api::decodeJson(body);
  if (!payload || !payload->is_object()) return Error::badRequest("webhook payload is not a JSON object");
  if (eventType != "push" && eventType != "Push Hook") return event;  // acknowledged, nothing to refresh
  event.ref = api::stringAt(*payload, "ref");
  if (event.provider == "gitlab") {
    for (const char* p : {"project.web_url", "project.git_http_url", "project.git_ssh_url", "repository.homepage", "repository.git_http_url"})
      addUrl(event, *payload, p);
  } else {
    for (const char* p : {"repository.html_url", "repository.clone_url", "repository.ssh_url", "repository.git_url"}) addUrl(event, *payload, p);
  }
  return event;
}

void serveWebhook(http::Exchange& ex, const std::function<WebhookSecrets()>& secrets, const std::function<size_t(const PushEvent&)>& onPush) {
  const http::Request& req = ex.request();
  if (req.method != "POST") {
    ex.respond({405, "application/json", {{"Allow", "POST"}}, json::serialize(message("webhooks are POSTed"))});
    return;
  }
  auto event = parseWebhook(req.headers, req.body, secrets());
  if (!event) {
    log::warn("gitops", "refused webhook from " + req.remoteAddress + ": " + event.error().message);
    ex.respond({400, "application/json", {}, json::serialize(message(event.error().message))});
    return;
  }
  size_t refreshed = event->repositoryUrls.empty() ? 0 : onPush(*event);
  ex.respond({200, "application/json", {}, json::serialize(json::object{{"refreshed", refreshed}})});
}

}  // namespace skiff::gitops
