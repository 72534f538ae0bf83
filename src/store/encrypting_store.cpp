#include "store/encrypting_store.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <memory>
#include <stdexcept>

namespace skiff::store {

namespace {
constexpr std::string_view kPrefix = "k8s:enc:";
constexpr size_t kGcmNonce = 12, kGcmTag = 16, kCbcIv = 16;

const char* kindName(EncryptionProvider::Kind k) {
  switch (k) {
    case EncryptionProvider::Kind::AesGcm: return "aesgcm";
    case EncryptionProvider::Kind::AesCbc: return "aescbc";
    case EncryptionProvider::Kind::Identity: return "identity";
  }
  return "identity";
}

using Ctx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

const EVP_CIPHER* gcmCipher(size_t keyBytes) {
  return keyBytes == 16 ? EVP_aes_128_gcm() : keyBytes == 24 ? EVP_aes_192_gcm() : keyBytes == 32 ? EVP_aes_256_gcm() : nullptr;
}

std::string randomBytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), int(n)) != 1) throw std::runtime_error("no random bytes for a nonce");
  return out;
}

auto* u(std::string& s) { return reinterpret_cast<unsigned char*>(s.data()); }
auto* u(const std::string& s) { return reinterpret_cast<const unsigned char*>(s.data()); }
auto* u(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

Result<std::string> gcmSeal(const std::string& key, std::string_view aad, const std::string& plaintext) {
  const EVP_CIPHER* cipher = gcmCipher(key.size());
  if (!cipher) return Error::internal("an aesgcm key must be 16, 24 or 32 bytes");
  std::string nonce = randomBytes(kGcmNonce);
  Ctx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  std::string out = nonce;
  out.resize(kGcmNonce + plaintext.size() + kGcmTag);
  int len = 0, total = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), cipher, nullptr, u(key), u(nonce)) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, u(aad), int(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), u(out) + kGcmNonce, &len, u(plaintext), int(plaintext.size())) != 1)
    return Error::internal("AES-GCM encryption failed");
  total = len;
  if (EVP_EncryptFinal_ex(ctx.get(), u(out) + kGcmNonce + total, &len) != 1) return Error::internal("AES-GCM encryption failed");
  total += len;
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, int(kGcmTag), u(out) + kGcmNonce + total) != 1)
    return Error::internal("AES-GCM encryption failed");
  out.resize(kGcmNonce + size_t(total) + kGcmTag);
  return out;
}

bool gcmOpen(const std::string& key, std::string_view aad, std::string_view data, std::string& plaintext) {
  const EVP_CIPHER* cipher = gcmCipher(key.size());
  if (!cipher || data.size() < kGcmNonce + kGcmTag) return false;
  std::string_view nonce = data.substr(0, kGcmNonce), body = data.substr(kGcmNonce, data.size() - kGcmNonce - kGcmTag);
  std::string tag(data.substr(data.size() - kGcmTag));
  Ctx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  plaintext.assign(body.size(), '\0');
  int len = 0, total = 0;
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), cipher, nullptr, u(key), u(nonce)) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, u(aad), int(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), u(plaintext), &len, u(body), int(body.size())) != 1)
    return false;
  total = len;
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, int(kGcmTag), tag.data()) != 1) return false;
  if (EVP_DecryptFinal_ex(ctx.get(), u(plaintext) + total, &len) != 1) return false;  // wrong key or tampered
  plaintext.resize(size_t(total + len));
  return true;
}

Result<std::string> cbcSeal(const std::string& key, const std::string& plaintext) {
  if (key.size() != 32) return Error::internal("an aescbc key must be 32 bytes");
  std::string iv = randomBytes(kCbcIv);
  Ctx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  std::string out = iv;
  out.resize(kCbcIv + plaintext.size() + 16);
  int len = 0, total = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_cbc(), nullptr, u(key), u(iv)) != 1 ||
      EVP_EncryptUpdate(ctx.get(), u(out) + kCbcIv, &len, u(plaintext), int(plaintext.size())) != 1)
    return Error::internal("AES-CBC encryption failed");
  total = len;
  if (EVP_EncryptFinal_ex(ctx.get(), u(out) + kCbcIv + total, &len) != 1) return Error::internal("AES-CBC encryption failed");
  out.resize(kCbcIv + size_t(total + len));
  return out;
}

bool cbcOpen(const std::string& key, std::string_view data, std::string& plaintext) {
  if (key.size() != 32 || data.size() < kCbcIv + 16 || (data.size() - kCbcIv) % 16 != 0) return false;
  Ctx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  std::string_view iv = data.substr(0, kCbcIv), body = data.substr(kCbcIv);
  plaintext.assign(body.size(), '\0');
  int len = 0, total = 0;
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_cbc(), nullptr, u(key), u(iv)) != 1 ||
      EVP_DecryptUpdate(ctx.get(), u(plaintext), &len, u(body), int(body.size())) != 1)
    return false;
  total = len;
  if (EVP_DecryptFinal_ex(ctx.get(), u(plaintext) + total, &len) != 1) return false;  // bad padding: wrong key
  plaintext.resize(size_t(total + len));
  return true;
}

}  // namespace

std::string randomKeyBytes() { return randomBytes(32); }

EncryptingStore::EncryptingStore(std::unique_ptr<Store> inner, std::vector<EncryptionRule> rules)
    : inner_(std::move(inner)), rules_(std::move(rules)) {}

const EncryptionRule* EncryptingStore::ruleFor(std::string_view key) const {
  for (const auto& r : rules_)
    for (const auto& p : r.prefixes)
      if (key.starts_with(p)) return &r;
  return nullptr;
}

Result<std::string> EncryptingStore::encrypt(std::string_view key, const std::string& plaintext) const {
  const EncryptionRule* rule = ruleFor(key);
  if (!rule || rule->providers.empty()) return plaintext;
  const EncryptionProvider& p = rule->providers.front();
  if (p.kind == EncryptionProvider::Kind::Identity || p.keys.empty()) return plaintext;
  const EncryptionKey& k = p.keys.front();
  std::string head = std::string(kPrefix) + kindName(p.kind) + ":v1:" + k.name + ":";
  auto sealed = p.kind == EncryptionProvider::Kind::AesGcm ? gcmSeal(k.secret, key, plaintext) : cbcSeal(k.secret, plaintext);
  if (!sealed) return sealed.error();
  return head + *sealed;
}

Result<std::string> EncryptingStore::decrypt(std::string_view key, const std::string& stored) const {
  const EncryptionRule* rule = ruleFor(key);
  std::string_view v = stored;
  if (!v.starts_with(kPrefix)) {
    bool identity = !rule;
    if (rule)
      for (const auto& p : rule->providers) identity = identity || p.kind == EncryptionProvider::Kind::Identity;
    if (identity) return stored;
    return Error::internal(std::string(key) + " is stored unencrypted and the encryption configuration has no identity provider to read it; "
                           "add `- identity: {}` as the last provider, rewrite (skiff secrets rotate), then remove it");
  }
  // k8s:enc:<kind>:v1:<name>:<data>
  std::string_view rest = v.substr(kPrefix.size());
  size_t c1 = rest.find(':'), c2 = c1 == std::string_view::npos ? c1 : rest.find(':', c1 + 1),
         c3 = c2 == std::string_view::npos ? c2 : rest.find(':', c2 + 1);
  if (c3 == std::string_view::npos) return Error::internal(std::string(key) + " holds a malformed encrypted value");
  std::string_view kind = rest.substr(0, c1), name = rest.substr(c2 + 1, c3 - c2 - 1), data = rest.substr(c3 + 1);
  for (const auto& r : rules_)  // any configured key of that name and kind may read it (a key moved between rules still reads)
    for (const auto& p : r.providers) {
      if (kind != kindName(p.kind)) continue;
      for (const auto& k : p.keys) {
        if (k.name != name) continue;
        std::string plain;
        bool ok = p.kind == EncryptionProvider::Kind::AesGcm ? gcmOpen(k.secret, key, data, plain) : cbcOpen(k.secret, data, plain);
        if (ok) return plain;
      }
    }
  return Error::internal(std::string(key) + " is encrypted with " + std::string(kind) + " key \"" + std::string(name) +
                         "\", which the encryption configuration does not hold (or holds with other bytes); "
                         "restore that key (the data is intact and reads again once it is back)");
}

std::vector<std::string> EncryptingStore::prefixes() const {
  std::vector<std::string> out;
  for (const auto& r : rules_) out.insert(out.end(), r.prefixes.begin(), r.prefixes.end());
  return out;
}

bool EncryptingStore::current(std::string_view key, const std::string& storedValue) const {
  const EncryptionRule* rule = ruleFor(key);
  if (!rule || rule->providers.empty()) return true;
  const EncryptionProvider& p = rule->providers.front();
  if (p.kind == EncryptionProvider::Kind::Identity || p.keys.empty()) return !std::string_view(storedValue).starts_with(kPrefix);
  std::string head = std::string(kPrefix) + kindName(p.kind) + ":v1:" + p.keys.front().name + ":";
  return std::string_view(storedValue).starts_with(head);
}

Result<KeyValue> EncryptingStore::decrypted(KeyValue kv) const {
  if (!kv.value || (!ruleFor(kv.key) && !std::string_view(*kv.value).starts_with(kPrefix))) return kv;
  auto plain = decrypt(kv.key, *kv.value);
  if (!plain) return plain.error();
  kv.value = std::make_shared<const std::string>(std::move(*plain));
  return kv;
}

ValueBuilder EncryptingStore::encrypting(const std::string& key, ValueBuilder build) const {
  if (!ruleFor(key)) return build;
  return [this, key, build = std::move(build)](int64_t revision) {
    auto sealed = encrypt(key, build(revision));
    if (!sealed) throw std::runtime_error(sealed.error().message);
    return std::move(*sealed);
  };
}

Result<KeyValue> EncryptingStore::get(std::string_view key) {
  auto kv = inner_->get(key);
  if (!kv) return kv;
  return decrypted(std::move(*kv));
}

Result<RangeResult> EncryptingStore::range(std::string_view prefix, std::string_view startAfter, size_t limit) {
  auto r = inner_->range(prefix, startAfter, limit);
  if (!r) return r;
  for (auto& item : r->items) {
    auto d = decrypted(std::move(item));
    if (!d) return d.error();
    item = std::move(*d);
  }
  return r;
}

Result<KeyValue> EncryptingStore::create(std::string key, ValueBuilder build) {
  std::string k = key;
  auto kv = inner_->create(std::move(key), encrypting(k, std::move(build)));
  if (!kv) return kv;
  return decrypted(std::move(*kv));
}

Result<KeyValue> EncryptingStore::update(std::string key, int64_t expectedModRevision, ValueBuilder build) {
  std::string k = key;
  auto kv = inner_->update(std::move(key), expectedModRevision, encrypting(k, std::move(build)));
  if (!kv) return kv;
  return decrypted(std::move(*kv));
}

Result<KeyValue> EncryptingStore::remove(std::string key, int64_t expectedModRevision) {
  auto kv = inner_->remove(std::move(key), expectedModRevision);
  if (!kv) return kv;
  auto d = decrypted(*kv);
  return d ? d : kv;  // the deletion happened; an unreadable last value is returned as stored
}

Result<std::unique_ptr<Watch>> EncryptingStore::watch(std::string prefix, int64_t afterRevision, WatchCallback callback) {
  auto w = inner_->watch(std::move(prefix), afterRevision, [this, callback = std::move(callback)](const Event& e) {
    if (!ruleFor(e.kv.key) && !(e.kv.value && std::string_view(*e.kv.value).starts_with(kPrefix))) return callback(e);
    Event out = e;
    if (auto d = decrypted(e.kv)) out.kv = std::move(*d);
    if (e.previousValue) {
      if (auto prev = decrypt(e.kv.key, *e.previousValue)) out.previousValue = std::make_shared<const std::string>(std::move(*prev));
    }
    callback(out);
  });
  return w;
}

Status EncryptingStore::checkReadable() {
  for (const auto& r : rules_)
    for (const auto& p : r.prefixes) {
      std::string after;
      for (;;) {
        auto page = inner_->range(p, after, 500);
        if (!page) return page.error();
        for (const auto& kv : page->items)
          if (kv.value)
            if (auto d = decrypt(kv.key, *kv.value); !d) return d.error();
        if (!page->more || page->items.empty()) break;
        after = page->items.back().key;
      }
    }
  return {};
}

}  // namespace skiff::store
