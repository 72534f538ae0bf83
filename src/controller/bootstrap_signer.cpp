#include "controller/bootstrap_signer.h"

#include <boost/json.hpp>

#include "api/object.h"
#include "api/resources.h"
#include "auth/bootstrap_token.h"
#include "common/log.h"

namespace skiff::controller {
namespace json = boost::json;

BootstrapSigner::BootstrapSigner(client::Client& client, client::Informer& tokens, client::Informer& clusterInfo)
    : client_(client), tokens_(tokens), clusterInfo_(clusterInfo),
      loop_("bootstrap-signer", [this](const std::string& key) { return reconcile(key); }) {
  auto enqueue = [this](const std::string&, const client::ObjectPtr&, const client::ObjectPtr&) { loop_.queue().add(auth::kClusterInfoName); };
  tokens_.addHandler(enqueue);
  clusterInfo_.addHandler(enqueue);
}

Result<Requeue> BootstrapSigner::reconcile(const std::string&) {
  auto now = std::chrono::system_clock::now();
  std::optional<std::chrono::system_clock::time_point> nextExpiry;
  std::vector<auth::TokenParts> signers;
  for (const auto& secret : tokens_.list("kube-system")) {
    auto t = auth::bootstrapTokenFromSecret(*secret);
    if (!t) continue;
    if (t->expired(now)) {
      auto r = client_.remove(*api::findByKind("v1", "Secret"), "kube-system", api::stringAt(*secret, "metadata.name"));
      if (r) log::info("bootstrap-signer", "bootstrap token " + t->id + " expired: its Secret is deleted");
      continue;
    }
    if (t->expiration && (!nextExpiry || *t->expiration < *nextExpiry)) nextExpiry = t->expiration;
    if (t->signing) signers.push_back({t->id, t->secret});
  }
  Requeue again = Requeue::done();
  if (nextExpiry) again = Requeue::in(std::chrono::duration_cast<std::chrono::milliseconds>(*nextExpiry - now) + std::chrono::seconds(1));
  client::ObjectPtr info = clusterInfo_.get(auth::kClusterInfoNamespace, auth::kClusterInfoName);
  if (!info) return again;
  std::string payload = api::stringAt(*info, "data.kubeconfig");
  json::value next = *info;
  json::value& data = api::ensurePath(next, "data");
  if (!data.is_object()) data = json::object();
  json::object& d = data.as_object();
  for (auto it = d.begin(); it != d.end();) {
    if (std::string_view(it->key()).starts_with(auth::kJwsKeyPrefix)) it = d.erase(it);
    else ++it;
  }
  if (!payload.empty())
    for (const auto& t : signers) d[std::string(auth::kJwsKeyPrefix) + t.id] = auth::signDetachedJws(payload, t);
  if (next == *info) return again;
  auto r = client_.update(*api::findByKind("v1", "ConfigMap"), auth::kClusterInfoNamespace, auth::kClusterInfoName, std::move(next), "");
  if (!r) return r.error();
  return again;
}

}  // namespace skiff::controller
