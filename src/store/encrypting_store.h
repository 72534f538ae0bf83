// EncryptingStore: encryption at rest, as kube-apiserver's EncryptionConfiguration does it, as a
// Store that wraps another (SQLite or etcd) and transforms the values under chosen key prefixes.
//
// Each rule names key prefixes (/registry/core/secrets/ for `secrets`) and an ordered list of
// providers: the first one encrypts every write, all of them are tried to read. Values are
// stored as Kubernetes stores them: "k8s:enc:<provider>:v1:<key name>:" then, for aesgcm, a
// 12-byte nonce and the AES-GCM ciphertext with its 16-byte tag (the storage key as additional
// data, so a value cannot be moved to another key); for aescbc a 16-byte IV and the AES-CBC
// ciphertext (PKCS#7). identity stores plaintext; a value without the prefix is plaintext and is
// read only when identity is among the rule's providers.
//
// A value no configured key can read is an error on every read (500, naming the key), never an
// empty or skipped object: a lost key must not look like lost data. checkReadable() lets a
// server refuse to start in that state.
//
// Threading: as the wrapped store; the providers are immutable after construction.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "store/store.h"

namespace skiff::store {

struct EncryptionKey {
  std::string name;
  std::string secret;  // raw bytes: 16, 24 or 32 for aesgcm, 32 for aescbc
};

struct EncryptionProvider {
  enum class Kind { Identity, AesGcm, AesCbc };
  Kind kind = Kind::Identity;
  std::vector<EncryptionKey> keys;  // the first encrypts; all decrypt
};

struct EncryptionRule {
  std::vector<std::string> prefixes;  // storage key prefixes ("/registry/" = every resource)
  std::vector<EncryptionProvider> providers;
};

class EncryptingStore final : public Store {
 public:
  // The first rule whose prefix a key starts with decides for that key; keys no rule names are
  // stored as they are.
  EncryptingStore(std::unique_ptr<Store> inner, std::vector<EncryptionRule> rules);

  Result<KeyValue> get(std::string_view key) override;
  Result<RangeResult> range(std::string_view prefix, std::string_view startAfter, size_t limit) override;
  Result<size_t> count(std::string_view prefix) override { return inner_->count(prefix); }
  Result<KeyValue> create(std::string key, ValueBuilder build) override;
  Result<KeyValue> update(std::string key, int64_t expectedModRevision, ValueBuilder build) override;
  Result<KeyValue> remove(std::string key, int64_t expectedModRevision) override;
  Result<std::unique_ptr<Watch>> watch(std::string prefix, int64_t afterRevision, WatchCallback callback) override;
  int64_t revision() override { return inner_->revision(); }
  int64_t progressRevision() override { return inner_->progressRevision(); }
  int64_t compactedRevision() override { return inner_->compactedRevision(); }
  void compact(int64_t revision) override { inner_->compact(revision); }

  // Every stored value under the configured prefixes can be read with the configured keys; the
  // first that cannot is the error (which key it needs).
  Status checkReadable();
  // Whether `key`'s stored bytes are written as the current configuration would write them (the
  // first provider and its first key); false means a rewrite would re-encrypt it.
  bool current(std::string_view key, const std::string& storedValue) const;

  // Every configured prefix (what a rewrite must cover to re-encrypt everything).
  std::vector<std::string> prefixes() const;

  // The transformations themselves (exposed for tests and for `current`).
  Result<std::string> encrypt(std::string_view key, const std::string& plaintext) const;
  Result<std::string> decrypt(std::string_view key, const std::string& stored) const;

 private:
  const EncryptionRule* ruleFor(std::string_view key) const;
  Result<KeyValue> decrypted(KeyValue kv) const;
  ValueBuilder encrypting(const std::string& key, ValueBuilder build) const;

  std::unique_ptr<Store> inner_;
  std::vector<EncryptionRule> rules_;
};

// 32 random bytes, for a generated default key.
std::string randomKeyBytes();

}  // namespace skiff::store
