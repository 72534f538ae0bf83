#include "server/cluster_secrets.h"

#include <boost/json.hpp>
#include <fstream>
#include <sstream>

#include "common/base64.h"
#include "common/files.h"
#include "common/log.h"

namespace skiff::server {
namespace json = boost::json;
namespace {

const char* const kFiles[] = {"tls/ca.crt", "tls/ca.key", "sa.key", "token"};

Result<std::string> readWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::notFound("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Status adopt(const std::string& stored, const std::string& dataDir) {
  boost::system::error_code ec;
  json::value v = json::parse(stored, ec);
  if (ec || !v.is_object()) return Error::internal(std::string(kClusterSecretsKey) + " in the store is not valid JSON; restore it from a backup");
  if (Status s = makePrivateDir(dataDir + "/tls"); !s) return s;
  for (const char* name : kFiles) {
    const json::value* encoded = v.as_object().if_contains(name);
    if (!encoded || !encoded->is_string())
      return Error::internal(std::string(kClusterSecretsKey) + " in the store lacks " + name + "; restore it from a backup");
    auto data = base64Decode(encoded->as_string());
    if (!data) return Error::internal(std::string(kClusterSecretsKey) + ": " + name + " is not base64");
    std::string path = dataDir + "/" + name;
    auto local = readWhole(path);
    if (local && *local == *data) continue;
    if (local) log::warn("cluster", path + " differs from the cluster's; replacing it with the one every server shares");
    if (Status s = writeFileAtomic(path, *data, 0600); !s) return s;
  }
  return {};
}

}  // namespace

Status shareClusterSecrets(store::Store& store, const std::string& dataDir, const std::function<Status()>& create) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (auto kv = store.get(kClusterSecretsKey)) return adopt(*kv->value, dataDir);
    else if (kv.error().code != 404) return kv.error();
    if (Status s = create(); !s) return s;
    json::object files;
    for (const char* name : kFiles) {
      auto data = readWhole(dataDir + "/" + name);
      if (!data) return data.error();
      files[name] = base64Encode(*data);
    }
    std::string text = json::serialize(files);
    auto created = store.create(kClusterSecretsKey, [&](int64_t) { return text; });
    if (created) {
      log::info("cluster", "this server made the cluster's CA, service-account key and admin token");
      return {};
    }
    if (created.error().reason != "AlreadyExists") return created.error();
    // Another server got there first: take its secrets.
  }
  return Error::internal("could not settle the cluster secrets in the store");
}

}  // namespace skiff::server
