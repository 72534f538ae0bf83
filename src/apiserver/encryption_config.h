// Which resources are encrypted at rest, and with what keys: kube-apiserver's
// --encryption-provider-config file (EncryptionConfiguration, apiserver.config.k8s.io/v1), or
// skiff's default — Secrets with aesgcm under a key generated on first start in DATA/encryption.key
// (0600, apart from the store), plus identity so Secrets written before encryption still read.
//
// Resources are named as Kubernetes names them: `secrets`, `deployments.apps`, `*.apps` (a whole
// group), `*.` (the core group), `*.*` (everything). Providers: aesgcm (16, 24 or 32-byte keys),
// aescbc (32-byte keys), identity; secretbox and kms are refused by name.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "http/http.h"
#include "store/encrypting_store.h"

namespace skiff::apiserver {

// Errors name the field (resources[0].providers[1].aesgcm.keys[0].secret) and what is wrong.
Result<std::vector<store::EncryptionRule>> parseEncryptionConfiguration(std::string_view text);
Result<std::vector<store::EncryptionRule>> loadEncryptionConfiguration(const std::string& path);

// The default rules, creating DATA/encryption.key when `mayCreate` and it does not exist.
Result<std::vector<store::EncryptionRule>> defaultEncryption(const std::string& dataDir, bool mayCreate);

// `inner` wrapped as the configuration says: the file when given, else the default for a store of
// this data dir alone (a shared store needs the same file on every server: without one its values
// stay as they are, with a warning). Fails, rather than start, when the store holds values no
// configured key can read (a lost or wrong key) — and then leaves no new key file behind.
Result<std::unique_ptr<store::Store>> withEncryption(std::unique_ptr<store::Store> inner, const std::string& configFile,
                                                     const std::string& dataDir, bool shared);

// Rewrites every stored object under `prefixes` (each built-in kind's objects there), so each is
// encrypted with the configuration's first provider and key (`skiff secrets rotate`). Returns how
// many objects were written.
class Registry;
Result<size_t> rewriteEncrypted(Registry& registry, const std::vector<std::string>& prefixes);

// POST /skiff/v1/encryption/rewrite (what `skiff secrets rotate` calls): rewriteEncrypted, answered
// as {"rewritten": N}. Authorized like any non-resource URL (cluster-admin).
void serveEncryptionRewrite(Registry& registry, const std::vector<std::string>& prefixes, http::Exchange& ex);

// The storage key prefix of a resource as the configuration names it ("secrets" ->
// "/registry/core/secrets/").
std::string storagePrefixOf(const std::string& resource);

}  // namespace skiff::apiserver
