#include "apiserver/encryption_config.h"

#include <boost/json.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

#include "api/codec.h"
#include "api/object.h"
#include "api/resources.h"
#include "apiserver/registry.h"
#include "common/base64.h"
#include "common/files.h"
#include "common/log.h"

namespace skiff::apiserver {
namespace json = boost::json;

namespace {
Error fieldError(const std::string& field, const std::string& what) {
  Error e = Error::invalid("encryption configuration: " + field + ": " + what);
  e.causes.push_back({"FieldValueInvalid", what, field});
  return e;
}

Result<store::EncryptionProvider> providerOf(const json::value& v, const std::string& path) {
  if (!v.is_object() || v.get_object().size() != 1)
    return fieldError(path, "a provider is an object with exactly one of aesgcm, aescbc or identity");
  const auto& [name, body] = *v.get_object().begin();
  store::EncryptionProvider p;
  if (name == "identity") return p;
  if (name == "secretbox" || name == "kms")
    return fieldError(path + "." + std::string(name), "the " + std::string(name) + " provider is not supported by skiff; use aesgcm or aescbc");
  if (name == "aesgcm") p.kind = store::EncryptionProvider::Kind::AesGcm;
  else if (name == "aescbc") p.kind = store::EncryptionProvider::Kind::AesCbc;
  else return fieldError(path, "unknown provider \"" + std::string(name) + "\" (aesgcm, aescbc or identity)");
  std::string at = path + "." + std::string(name) + ".keys";
  const json::value* keys = body.is_object() ? body.get_object().if_contains("keys") : nullptr;
  if (!keys || !keys->is_array() || keys->get_array().empty()) return fieldError(at, "Required value: at least one key");
  for (size_t i = 0; i < keys->get_array().size(); ++i) {
    const json::value& k = keys->get_array()[i];
    std::string kp = at + "[" + std::to_string(i) + "]";
    std::string keyName = api::stringAt(k, "name"), secret = api::stringAt(k, "secret");
    if (keyName.empty()) return fieldError(kp + ".name", "Required value");
    if (keyName.find(':') != std::string::npos) return fieldError(kp + ".name", "may not contain ':'");
    auto raw = base64Decode(secret);
    if (secret.empty() || !raw) return fieldError(kp + ".secret", "Required value: the key's bytes, base64-encoded (head -c 32 /dev/urandom | base64)");
    size_t n = raw->size();
    bool okLength = p.kind == store::EncryptionProvider::Kind::AesGcm ? (n == 16 || n == 24 || n == 32) : n == 32;
    if (!okLength)
      return fieldError(kp + ".secret", "secret is not of the expected length, got " + std::to_string(n) + ", expected " +
                                            (p.kind == store::EncryptionProvider::Kind::AesGcm ? "one of [16 24 32]" : "32"));
    p.keys.push_back({keyName, std::move(*raw)});
  }
  return p;
}
}  // namespace

std::string storagePrefixOf(const std::string& resource) {
  if (resource == "*.*") return "/registry/";
  auto dot = resource.find('.');
  std::string plural = dot == std::string::npos ? resource : resource.substr(0, dot);
  std::string group = dot == std::string::npos ? "" : resource.substr(dot + 1);
  std::string g = group.empty() ? "core" : group;
  if (plural == "*") return "/registry/" + g + "/";
  return "/registry/" + g + "/" + plural + "/";
}

Result<std::vector<store::EncryptionRule>> parseEncryptionConfiguration(std::string_view text) {
  auto docs = api::decodeManifests(text);
  if (!docs || docs->size() != 1) return Error::invalid("encryption configuration: not one YAML or JSON document");
  const json::value& doc = (*docs)[0];
  if (api::stringAt(doc, "kind") != "EncryptionConfiguration" ||
      (api::stringAt(doc, "apiVersion") != "apiserver.config.k8s.io/v1" && api::stringAt(doc, "apiVersion") != "apiserver.config.k8s.io/v1beta1"))
    return fieldError("kind", "must be EncryptionConfiguration of apiVersion apiserver.config.k8s.io/v1");
  const json::value* resources = api::valueAt(doc, "resources");
  if (!resources || !resources->is_array() || resources->get_array().empty()) return fieldError("resources", "Required value: at least one entry");
  std::vector<store::EncryptionRule> rules;
  for (size_t i = 0; i < resources->get_array().size(); ++i) {
    const json::value& r = resources->get_array()[i];
    std::string at = "resources[" + std::to_string(i) + "]";
    store::EncryptionRule rule;
    auto names = api::stringsAt(r, "resources");
    if (names.empty()) return fieldError(at + ".resources", "Required value: at least one resource (secrets, *.apps, ...)");
    for (const auto& n : names) rule.prefixes.push_back(storagePrefixOf(n));
    const json::value* providers = api::valueAt(r, "providers");
    if (!providers || !providers->is_array() || providers->get_array().empty())
      return fieldError(at + ".providers", "Required value: at least one provider");
    for (size_t j = 0; j < providers->get_array().size(); ++j) {
      auto p = providerOf(providers->get_array()[j], at + ".providers[" + std::to_string(j) + "]");
      if (!p) return p.error();
      rule.providers.push_back(std::move(*p));
    }
    rules.push_back(std::move(rule));
  }
  return rules;
}

Result<std::vector<store::EncryptionRule>> loadEncryptionConfiguration(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error::notFound("cannot read the encryption configuration " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  auto rules = parseEncryptionConfiguration(ss.str());
  if (!rules) return Error{rules.error().code, rules.error().reason, path + ": " + rules.error().message, rules.error().causes};
  return rules;
}

Result<std::vector<store::EncryptionRule>> defaultEncryption(const std::string& dataDir, bool mayCreate) {
  std::string path = dataDir + "/encryption.key";
  std::string key;
  if (std::ifstream in(path); in) {
    std::stringstream ss;
    ss << in.rdbuf();
    auto raw = base64Decode(ss.str().substr(0, ss.str().find_last_not_of("\n\r ") + 1));
    if (!raw || raw->size() != 32) return Error::invalid(path + " does not hold a base64 32-byte key: restore it from a backup (the Secrets it encrypted need it)");
    key = std::move(*raw);
  } else {
    if (!mayCreate) return Error::notFound(path + " is missing");
    key = store::randomKeyBytes();
    if (Status s = writeFileAtomic(path, base64Encode(key) + "\n", 0600); !s) return s.error();
  }
  store::EncryptionRule rule;
  rule.prefixes = {storagePrefixOf("secrets")};
  store::EncryptionProvider gcm;
  gcm.kind = store::EncryptionProvider::Kind::AesGcm;
  gcm.keys.push_back({"key1", std::move(key)});
  rule.providers = {std::move(gcm), store::EncryptionProvider{}};
  return std::vector<store::EncryptionRule>{std::move(rule)};
}

Result<std::unique_ptr<store::Store>> withEncryption(std::unique_ptr<store::Store> inner, const std::string& configFile,
                                                     const std::string& dataDir, bool shared) {
  Result<std::vector<store::EncryptionRule>> rules = std::vector<store::EncryptionRule>{};
  bool created = false;
  std::string keyPath = dataDir + "/encryption.key";
  if (!configFile.empty()) {
    rules = loadEncryptionConfiguration(configFile);
  } else if (shared) {
    log::warn("encryption", "Secrets are stored unencrypted in the shared store: give every server the same --encryption-provider-config file");
    return inner;
  } else {
    struct stat st {};
    created = ::stat(keyPath.c_str(), &st) != 0;
    rules = defaultEncryption(dataDir, true);
  }
  if (!rules) return rules.error();
  auto wrapped = std::make_unique<store::EncryptingStore>(std::move(inner), std::move(*rules));
  if (Status s = wrapped->checkReadable(); !s) {
    if (created) ::unlink(keyPath.c_str());
    return Error::unavailable("cannot start: " + s.error().message +
                              (configFile.empty() ? " (the default key is " + keyPath + ")" : " (--encryption-provider-config " + configFile + ")"));
  }
  return std::unique_ptr<store::Store>(std::move(wrapped));
}

Result<size_t> rewriteEncrypted(Registry& registry, const std::vector<std::string>& prefixes) {
  size_t written = 0;
  std::vector<std::string> seen;
  for (const auto& type : api::builtinResources()) {
    if (type.createOnly) continue;
    std::string prefix = type.storagePrefix();
    if (std::find(seen.begin(), seen.end(), prefix) != seen.end()) continue;  // versions of one stored kind
    bool covered = std::any_of(prefixes.begin(), prefixes.end(), [&](const std::string& p) { return prefix.starts_with(p); });
    if (!covered) continue;
    seen.push_back(prefix);
    auto n = registry.rewriteAll(type);
    if (!n) return n.error();
    written += *n;
  }
  return written;
}

void serveEncryptionRewrite(Registry& registry, const std::vector<std::string>& prefixes, http::Exchange& ex) {
  if (ex.request().method != "POST") {
    ex.respond({405, "text/plain; charset=utf-8", {}, "POST to rewrite every encrypted object with the first configured key\n"});
    return;
  }
  auto n = rewriteEncrypted(registry, prefixes);
  if (!n) {
    ex.respond({n.error().code, "application/json", {},
                json::serialize(json::object{{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Failure"}, {"message", n.error().message},
                                             {"reason", n.error().reason}, {"code", n.error().code}})});
    return;
  }
  ex.respond({200, "application/json", {}, json::serialize(json::object{{"rewritten", *n}})});
}

}  // namespace skiff::apiserver
