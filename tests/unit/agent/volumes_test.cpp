// Pod volumes owned as the kubelet owns them: fsGroup (group access, setgid directories), the
// token file's mode and owner from runAsUser/fsGroup, defaultMode, emptyDir and claim modes.
#include "agent/volumes.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>

#include "api/object.h"
#include "client/local_client.h"
#include "store/sqlite/sqlite_store.h"

namespace skiff::agent {
namespace {
namespace fs = std::filesystem;
namespace json = boost::json;

class VolumesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("skiff-vol-" + std::to_string(::getpid()) + "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "pod");
    auto s = store::openSqliteStore({(dir_ / "store.db").string()});
    ASSERT_TRUE(s.ok());
    store_ = std::move(*s);
    registry_ = std::make_unique<apiserver::Registry>(*store_);
    ASSERT_TRUE(registry_->bootstrap().ok());
    client_ = std::make_unique<client::LocalClient>(*registry_);
    ASSERT_TRUE(registry_->create(*api::findByKind("v1", "Secret"), "default",
                                  json::parse(R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"creds"},"data":{"password":"czNjcmV0"}})")));
    ASSERT_TRUE(registry_->create(*api::findByKind("v1", "ConfigMap"), "default",
                                  json::parse(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"conf"},"data":{"nested":"n","greeting":"hi"}})")));
    tokens_.issue = [](int64_t, const std::string&) { return std::string("eyJtoken"); };
    tokens_.caPem = "pem";
  }
  void TearDown() override {
    client_.reset();
    registry_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }
  // A pod with a secret, a configMap (one nested item), an emptyDir and the given security context.
  Result<std::map<std::string, PreparedVolume>> prepare(const std::string& securityContext, const std::string& containerContext = "{}") {
    json::value pod = json::parse(R"({"metadata":{"namespace":"default","name":"p"},"spec":{"securityContext":)" + securityContext +
                                  R"(,"containers":[{"name":"c","securityContext":)" + containerContext + R"(}],
      "volumes":[{"name":"secret","secret":{"secretName":"creds","defaultMode":256}},
                 {"name":"conf","configMap":{"name":"conf","items":[{"key":"nested","path":"sub/b"},{"key":"greeting","path":"greeting","mode":384}]}},
                 {"name":"scratch","emptyDir":{}}]}})");
    return prepareVolumes(pod, (dir_ / "pod").string(), (dir_ / "claims").string(), *client_, &tokens_, &tokenFiles_);
  }
  struct stat statOf(const std::string& rel) {
    struct stat st{};
    EXPECT_EQ(::lstat((dir_ / "pod" / "volumes" / rel).c_str(), &st), 0) << rel;
    return st;
  }
  fs::path dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<apiserver::Registry> registry_;
  std::unique_ptr<client::LocalClient> client_;
  TokenSource tokens_;
  std::vector<TokenFile> tokenFiles_;
};

TEST_F(VolumesTest, WithoutSecurityContextModesAreTheKubeletDefaults) {
  auto v = prepare("{}");
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(statOf("secret/password").st_mode & 07777, 0400u);  // defaultMode
  EXPECT_EQ(statOf("conf/greeting").st_mode & 07777, 0600u);    // the item's mode
  EXPECT_EQ(statOf("conf/sub/b").st_mode & 07777, 0644u);
  EXPECT_EQ(statOf("conf/sub").st_mode & 07777, 0755u);
  EXPECT_EQ(statOf("scratch").st_mode & 07777, 0777u);  // empty_dir.go's perm
  EXPECT_EQ(statOf("kube-api-access/token").st_mode & 07777, 0644u);  // the fallback: world-readable like secrets
  EXPECT_EQ(statOf("kube-api-access/ca.crt").st_mode & 07777, 0644u);
}

TEST_F(VolumesTest, FsGroupOwnsEveryVolumeWithGroupAccessAndSetgidDirectories) {
  auto v = prepare(R"({"runAsUser":1000,"fsGroup":2000})");
  ASSERT_TRUE(v) << v.error().message;
  auto secret = statOf("secret/password");
  EXPECT_EQ(secret.st_gid, 2000u);
  EXPECT_EQ(secret.st_mode & 07777, 0440u);  // 0400 | group read
  EXPECT_EQ(statOf("conf/greeting").st_mode & 07777, 0640u);
  auto sub = statOf("conf/sub");
  EXPECT_EQ(sub.st_gid, 2000u);
  EXPECT_EQ(sub.st_mode & 07777, 02755u);
  auto scratch = statOf("scratch");
  EXPECT_EQ(scratch.st_gid, 2000u);
  EXPECT_EQ(scratch.st_mode & 07777, 02777u);
  auto token = statOf("kube-api-access/token");
  EXPECT_EQ(token.st_uid, 1000u);
  EXPECT_EQ(token.st_gid, 2000u);
  EXPECT_EQ(token.st_mode & 07777, 0640u);
  ASSERT_EQ(tokenFiles_.size(), 1u);
  EXPECT_EQ(tokenFiles_[0].mode, 0640u);  // a refresh keeps the mode and owner
}

TEST_F(VolumesTest, OneRunAsUserAloneOwnsTheTokenPrivately) {
  auto v = prepare("{}", R"({"runAsUser":1000})");
  ASSERT_TRUE(v) << v.error().message;
  auto token = statOf("kube-api-access/token");
  EXPECT_EQ(token.st_uid, 1000u);
  EXPECT_EQ(token.st_mode & 07777, 0600u);
  EXPECT_EQ(statOf("secret/password").st_gid, 0u);
  EXPECT_EQ(statOf("scratch").st_mode & 07777, 0777u);
}

TEST_F(VolumesTest, FilesAlreadyInAnEmptyDirJoinTheGroupOnRestart) {
  ASSERT_TRUE(prepare("{}"));
  std::string made = (dir_ / "pod" / "volumes" / "scratch" / "old").string();
  { std::ofstream(made) << "x"; }
  ::chmod(made.c_str(), 0600);
  ASSERT_TRUE(prepare(R"({"fsGroup":2000})"));
  auto st = statOf("scratch/old");
  EXPECT_EQ(st.st_gid, 2000u);
  EXPECT_EQ(st.st_mode & 07777, 0660u);
}

TEST_F(VolumesTest, MemoryEmptyDirGetsTheGroupThroughTmpfsOptions) {
  json::value pod = json::parse(R"({"metadata":{"namespace":"default","name":"p"},"spec":{"securityContext":{"fsGroup":2000},
    "containers":[{"name":"c"}],"volumes":[{"name":"m","emptyDir":{"medium":"Memory","sizeLimit":"1Mi"}}]}})");
  auto v = prepareVolumes(pod, (dir_ / "pod").string(), (dir_ / "claims").string(), *client_);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->at("m").tmpfsOptions, "mode=3777,gid=2000,size=1048576");
}

}  // namespace
}  // namespace skiff::agent
