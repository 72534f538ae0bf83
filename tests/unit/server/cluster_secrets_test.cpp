// Servers on one store end with the same CA, service-account key and admin token, whoever
// started first; a server whose data dir had other secrets takes the cluster's.
#include "server/cluster_secrets.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "apiserver/service_account_tokens.h"
#include "common/files.h"
#include "pki/pki.h"
#include "store/sqlite/sqlite_store.h"

namespace skiff::server {
namespace {
namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class ClusterSecretsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("skiff-secrets-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    store_ = std::move(*store::openSqliteStore({(dir_ / "store.db").string(), 50, 1024}));
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }
  // What a server makes in a fresh data dir.
  std::function<Status()> creator(const fs::path& d) {
    return [d]() -> Status {
      if (Status s = makePrivateDir(d.string()); !s) return s;
      if (auto ca = pki::CertificateAuthority::open((d / "tls").string()); !ca) return ca.error();
      if (auto sa = apiserver::ServiceAccountTokens::open(d.string()); !sa) return sa.error();
      return writeFileAtomic((d / "token").string(), "token-of-" + d.filename().string(), 0600);
    };
  }
  fs::path dir_;
  std::unique_ptr<store::Store> store_;
};

TEST_F(ClusterSecretsTest, EveryServerEndsWithTheFirstOnesSecrets) {
  fs::path a = dir_ / "a", b = dir_ / "b";
  ASSERT_TRUE(shareClusterSecrets(*store_, a.string(), creator(a)).ok());
  // b already made its own CA (an earlier standalone start): the cluster's replaces it.
  ASSERT_TRUE(creator(b)().ok());
  ASSERT_NE(slurp(a / "tls/ca.crt"), slurp(b / "tls/ca.crt"));
  ASSERT_TRUE(shareClusterSecrets(*store_, b.string(), creator(b)).ok());
  for (const char* f : {"tls/ca.crt", "tls/ca.key", "sa.key", "token"}) EXPECT_EQ(slurp(a / f), slurp(b / f)) << f;
  EXPECT_EQ(slurp(b / "token"), "token-of-a");
  EXPECT_EQ(fs::status(b / "tls/ca.key").permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
  // A certificate from b's CA now verifies against a's.
  auto caB = pki::CertificateAuthority::open((b / "tls").string());
  ASSERT_TRUE(caB.ok());
  auto id = caB->issue("spiffe://cluster.local/ns/x/sa/y", std::chrono::seconds(60));
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->caCertPem, slurp(a / "tls/ca.crt"));
}

TEST_F(ClusterSecretsTest, ACorruptRecordIsRefusedNotOverwritten) {
  ASSERT_TRUE(store_->create(kClusterSecretsKey, [](int64_t) { return std::string("{not json"); }).ok());
  fs::path a = dir_ / "a";
  auto s = shareClusterSecrets(*store_, a.string(), creator(a));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("backup"), std::string::npos);
  EXPECT_EQ(*store_->get(kClusterSecretsKey)->value, "{not json");
}

}  // namespace
}  // namespace skiff::server
