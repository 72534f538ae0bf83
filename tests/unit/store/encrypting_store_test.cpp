#include "store/encrypting_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "apiserver/encryption_config.h"
#include "store/open_store.h"

namespace skiff::store {
namespace {

std::vector<EncryptionRule> rules(EncryptionProvider::Kind kind, std::string name, std::string secret, bool identity = true) {
  EncryptionRule r;
  r.prefixes = {"/registry/core/secrets/"};
  EncryptionProvider p;
  p.kind = kind;
  p.keys.push_back({std::move(name), std::move(secret)});
  r.providers.push_back(std::move(p));
  if (identity) r.providers.push_back(EncryptionProvider{});
  return {r};
}

std::unique_ptr<Store> memory(const std::string& dir) {
  auto s = openStore("", dir);
  EXPECT_TRUE(s) << s.error().message;
  return std::move(s->store);
}

TEST(EncryptingStore, SealsSecretsAndReadsThemBack) {
  for (auto kind : {EncryptionProvider::Kind::AesGcm, EncryptionProvider::Kind::AesCbc}) {
    EncryptingStore s(nullptr, rules(kind, "k1", std::string(32, 'x')));
    auto sealed = s.encrypt("/registry/core/secrets/ns/a", "{\"data\":\"hunter2\"}");
    ASSERT_TRUE(sealed);
    EXPECT_EQ(sealed->find("hunter2"), std::string::npos);
    EXPECT_TRUE(sealed->starts_with(kind == EncryptionProvider::Kind::AesGcm ? "k8s:enc:aesgcm:v1:k1:" : "k8s:enc:aescbc:v1:k1:"));
    auto plain = s.decrypt("/registry/core/secrets/ns/a", *sealed);
    ASSERT_TRUE(plain) << plain.error().message;
    EXPECT_EQ(*plain, "{\"data\":\"hunter2\"}");
    EXPECT_EQ(*s.encrypt("/registry/core/configmaps/ns/a", "plain"), "plain");  // not covered
  }
}

TEST(EncryptingStore, AWrongOrMissingKeyIsAnErrorNeverData) {
  EncryptingStore a(nullptr, rules(EncryptionProvider::Kind::AesGcm, "k1", std::string(32, 'a')));
  EncryptingStore b(nullptr, rules(EncryptionProvider::Kind::AesGcm, "k1", std::string(32, 'b')));
  EncryptingStore c(nullptr, rules(EncryptionProvider::Kind::AesGcm, "k2", std::string(32, 'a')));
  auto sealed = a.encrypt("/registry/core/secrets/ns/a", "secret");
  ASSERT_TRUE(sealed);
  auto wrong = b.decrypt("/registry/core/secrets/ns/a", *sealed);
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message.find("key \"k1\""), std::string::npos) << wrong.error().message;
  EXPECT_FALSE(c.decrypt("/registry/core/secrets/ns/a", *sealed));
  // Bound to its key: the same bytes under another object's key do not open.
  EXPECT_FALSE(a.decrypt("/registry/core/secrets/ns/b", *sealed));
  // Plaintext is read only with identity among the providers.
  EXPECT_TRUE(a.decrypt("/registry/core/secrets/ns/a", "{}"));
  EncryptingStore strict(nullptr, rules(EncryptionProvider::Kind::AesGcm, "k1", std::string(32, 'a'), false));
  EXPECT_FALSE(strict.decrypt("/registry/core/secrets/ns/a", "{}"));
}

TEST(EncryptingStore, StoresCiphertextAndServesPlaintextThroughEveryRead) {
  std::string dir = ::testing::TempDir() + "/enc-store-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  auto inner = memory(dir);
  Store* raw = inner.get();
  EncryptingStore s(std::move(inner), rules(EncryptionProvider::Kind::AesGcm, "k1", std::string(16, 'z')));
  std::vector<std::string> seen;
  auto w = s.watch("/registry/", 0, [&](const Event& e) { seen.push_back(*e.kv.value); });
  ASSERT_TRUE(w);
  ASSERT_TRUE(s.create("/registry/core/secrets/ns/a", [](int64_t) { return std::string("{\"pw\":\"hunter2\"}"); }));
  EXPECT_EQ(*s.get("/registry/core/secrets/ns/a")->value, "{\"pw\":\"hunter2\"}");
  EXPECT_EQ(raw->get("/registry/core/secrets/ns/a")->value->find("hunter2"), std::string::npos);
  EXPECT_EQ(*s.range("/registry/core/secrets/", "", 0)->items.at(0).value, "{\"pw\":\"hunter2\"}");
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], "{\"pw\":\"hunter2\"}");
  EXPECT_TRUE(s.checkReadable());
  w->reset();
  std::filesystem::remove_all(dir);
}

TEST(EncryptionConfiguration, ReadsKubernetesFilesAndNamesBadFields) {
  auto ok = apiserver::parseEncryptionConfiguration(R"(
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets, configmaps, "*.apps"]
  providers:
  - aesgcm: {keys: [{name: key2, secret: MTIzNDU2Nzg5MDEyMzQ1Ng==}]}
  - aescbc: {keys: [{name: key1, secret: MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI=}]}
  - identity: {}
)");
  ASSERT_TRUE(ok) << ok.error().message;
  ASSERT_EQ(ok->size(), 1u);
  EXPECT_EQ((*ok)[0].prefixes, (std::vector<std::string>{"/registry/core/secrets/", "/registry/core/configmaps/", "/registry/apps/"}));
  EXPECT_EQ((*ok)[0].providers.size(), 3u);
  auto bad = apiserver::parseEncryptionConfiguration(R"(
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets]
  providers:
  - aescbc: {keys: [{name: key1, secret: c2hvcnQ=}]}
)");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("resources[0].providers[0].aescbc.keys[0].secret: secret is not of the expected length, got 5, expected 32"),
            std::string::npos) << bad.error().message;
  auto box = apiserver::parseEncryptionConfiguration(
      "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - secretbox: {keys: []}\n");
  ASSERT_FALSE(box);
  EXPECT_NE(box.error().message.find("secretbox provider is not supported"), std::string::npos);
}

}  // namespace
}  // namespace skiff::store
