#include "server/node_join_token.h"

#include <boost/json.hpp>

#include <fstream>

#include "api/object.h"
#include "api/resources.h"
#include "auth/bootstrap_token.h"
#include "cli/kubeconfig.h"
#include "common/base64.h"
#include "common/files.h"
#include "common/log.h"

namespace skiff::server {
namespace json = boost::json;
namespace {

const api::ResourceType& secretType() { return *api::findByKind("v1", "Secret"); }

std::string tokenText(const auth::TokenParts& t) { return t.id + "." + t.secret; }

// The join token another server already made (shared store): the newest Secret carrying our description.
std::optional<auth::TokenParts> existingJoinToken(client::Client& client) {
  client::ListOptions opts;
  if (auto sel = api::FieldSelector::parse(std::string("type=") + auth::kBootstrapTokenType)) opts.fields = std::move(*sel);
  auto list = client.list(secretType(), "kube-system", opts);
  if (!list) return std::nullopt;
  for (const auto& s : list->items) {
    auto desc = base64Decode(api::stringAt(s, "data.description"));
    if (!desc || *desc != kNodeTokenDescription) continue;
    auto t = auth::bootstrapTokenFromSecret(s);
    if (t && t->authentication && !t->expired(std::chrono::system_clock::now())) return auth::TokenParts{t->id, t->secret};
  }
  return std::nullopt;
}

Status writeTokenFile(const std::string& path, const auth::TokenParts& t) { return writeFileAtomic(path, tokenText(t) + "\n", 0600); }
}  // namespace

Result<std::string> ensureNodeJoinToken(client::Client& client, const std::string& dataDir) {
  std::string path = dataDir + "/node-token";
  std::string onDisk;
  if (std::ifstream in(path); in) in >> onDisk;
  if (auto t = auth::parseBootstrapToken(onDisk)) {
    auto secret = client.get(secretType(), "kube-system", std::string(auth::kBootstrapSecretPrefix) + t->id);
    if (secret) {
      auto held = auth::bootstrapTokenFromSecret(*secret);
      if (held && held->secret == t->secret) return onDisk;
    } else if (secret.error().reason == "NotFound" && !existingJoinToken(client)) {
      // A store that lost it (or a new one): the token nodes were given stays good.
      auto created = client.create(secretType(), "kube-system", auth::bootstrapTokenSecret(*t, {auth::kNodeTokenGroup}, kNodeTokenDescription));
      if (created || created.error().reason == "AlreadyExists") return onDisk;
      return created.error();
    } else if (secret.error().reason != "NotFound") {
      return secret.error();
    }
  }
  if (auto t = existingJoinToken(client)) {
    if (Status s = writeTokenFile(path, *t); !s) return s.error();
    return tokenText(*t);
  }
  auth::TokenParts t = auth::generateBootstrapToken();
  auto created = client.create(secretType(), "kube-system", auth::bootstrapTokenSecret(t, {auth::kNodeTokenGroup}, kNodeTokenDescription));
  if (!created) {
    // Another server made one at the same moment: use theirs.
    if (auto theirs = existingJoinToken(client)) t = *theirs;
    else return created.error();
  }
  if (Status s = writeTokenFile(path, t); !s) return s.error();
  log::info("platform", "node join token written to " + path + " (skiff agent --token)");
  return tokenText(t);
}

Status publishClusterInfo(client::Client& client, const std::string& serverUrl, const std::string& caPem) {
  const api::ResourceType& cm = *api::findByKind("v1", "ConfigMap");
  std::string kubeconfig = cli::renderKubeconfig(cli::Kubeconfig{serverUrl, "", caPem, "default"});
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto current = client.get(cm, auth::kClusterInfoNamespace, auth::kClusterInfoName);
    if (!current && current.error().reason != "NotFound") return current.error();
    if (!current) {
      json::value obj = json::object{{"apiVersion", "v1"},
                                     {"kind", "ConfigMap"},
                                     {"metadata", json::object{{"name", auth::kClusterInfoName}, {"namespace", auth::kClusterInfoNamespace}}},
                                     {"data", json::object{{"kubeconfig", kubeconfig}}}};
      auto created = client.create(cm, auth::kClusterInfoNamespace, std::move(obj));
      if (created || created.error().reason != "AlreadyExists") return created ? Status{} : Status(created.error());
      continue;
    }
    if (api::stringAt(*current, "data.kubeconfig") == kubeconfig) return {};
    json::value next = *current;
    api::ensurePath(next, "data.kubeconfig") = kubeconfig;
    auto updated = client.update(cm, auth::kClusterInfoNamespace, auth::kClusterInfoName, std::move(next), "");
    if (updated || updated.error().reason != "Conflict") return updated ? Status{} : Status(updated.error());
  }
  return Error::conflict("cluster-info kept changing while it was being published");
}

}  // namespace skiff::server
