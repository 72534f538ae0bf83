// The Git fetcher against real repositories made with the git CLI (a Debian dependency of skiff's
// tests), reached by path: resolving branches, tags, commits and HEAD, freshness sharing, and
// checkouts that hold only regular files.
#include "gitops/repository_cache.h"
#include "gitops/application.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace skiff::gitops {
namespace fs = std::filesystem;

namespace {

std::string run(const std::string& command) {
  std::string out;
  FILE* p = ::popen((command + " 2>/dev/null").c_str(), "r");
  if (!p) return out;
  char buf[256];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  ::pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

std::string idOf(Result<std::string> r) { return r ? *r : "error: " + r.error().message; }

class GitRepositoryCache : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("skiff-git-" + std::to_string(::getpid()) + "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "src");
    git("init -q -b main");
    git("config user.email t@t");
    git("config user.name t");
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string git(const std::string& args) { return run("git -C " + (dir_ / "src").string() + " " + args); }
  std::string commit(const std::string& file, const std::string& text) {
    fs::create_directories((dir_ / "src" / file).parent_path());
    std::ofstream(dir_ / "src" / file) << text;
    git("add -A");
    git("commit -q -m c");
    return git("rev-parse HEAD");
  }
  std::string url() const { return (dir_ / "src").string(); }
  fs::path dir_;
};

}  // namespace

TEST_F(GitRepositoryCache, ResolvesHeadBranchesTagsAndCommits) {
  std::string first = commit("a.yaml", "one");
  git("tag v1");
  git("checkout -q -b feature");
  std::string feature = commit("a.yaml", "feature");
  git("checkout -q main");
  std::string second = commit("a.yaml", "two");
  auto cache = RepositoryCache::open(dir_ / "cache");
  ASSERT_TRUE(cache.ok());
  auto now = RepositoryCache::Clock::now();
  EXPECT_EQ(idOf((*cache)->resolve(url(), "HEAD", {}, now)), second);
  EXPECT_EQ(idOf((*cache)->resolve(url(), "main", {}, now)), second);
  EXPECT_EQ(idOf((*cache)->resolve(url(), "feature", {}, now)), feature);
  EXPECT_EQ(idOf((*cache)->resolve(url(), "v1", {}, now)), first);
  EXPECT_EQ(idOf((*cache)->resolve(url(), first.substr(0, 8), {}, now)), first);
  auto missing = (*cache)->resolve(url(), "does-not-exist", {}, now);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("unable to resolve 'does-not-exist'"), std::string::npos);
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "cache").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST_F(GitRepositoryCache, OneFetchServesEveryoneUntilAFresherOneIsAskedFor) {
  std::string first = commit("a.yaml", "one");
  auto cache = RepositoryCache::open(dir_ / "cache");
  ASSERT_TRUE(cache.ok());
  auto asked = RepositoryCache::Clock::now();
  EXPECT_EQ(idOf((*cache)->resolve(url(), "HEAD", {}, asked)), first);
  std::string second = commit("a.yaml", "two");
  // A caller content with a copy as fresh as `asked` shares the fetch already made...
  EXPECT_EQ(idOf((*cache)->resolve(url(), "HEAD", {}, asked)), first);
  // ...a webhook (a later moment) makes the next caller fetch.
  EXPECT_EQ(idOf((*cache)->resolve(url(), "HEAD", {}, RepositoryCache::Clock::now())), second);
}

TEST_F(GitRepositoryCache, CheckoutWritesRegularFilesOnly) {
  commit("app/a.yaml", "kind: ConfigMap\n");
  fs::create_symlink("/etc/passwd", dir_ / "src" / "app" / "link.yaml");
  git("add -A");
  git("commit -q -m link");
  std::string head = git("rev-parse HEAD");
  auto cache = RepositoryCache::open(dir_ / "cache");
  ASSERT_TRUE(cache.ok());
  ASSERT_EQ(idOf((*cache)->resolve(url(), "HEAD", {}, RepositoryCache::Clock::now())), head);
  fs::create_directories(dir_ / "out");
  ASSERT_TRUE((*cache)->checkout(url(), head, dir_ / "out").ok());
  EXPECT_TRUE(fs::is_regular_file(dir_ / "out" / "app" / "a.yaml"));
  EXPECT_FALSE(fs::exists(fs::symlink_status(dir_ / "out" / "app" / "link.yaml")));
}

TEST_F(GitRepositoryCache, UnreachableRepositoryIsAnError) {
  auto cache = RepositoryCache::open(dir_ / "cache");
  ASSERT_TRUE(cache.ok());
  auto r = (*cache)->resolve((dir_ / "no-such-repo").string(), "HEAD", {}, RepositoryCache::Clock::now());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("cannot reach"), std::string::npos) << r.error().message;
}

TEST(GitOpsRepoUrl, NormalizedAsArgoCdCompares) {
  EXPECT_EQ(normalizeRepoUrl("https://GitHub.com/Org/Apps.git/"), "https://github.com/org/apps");
  EXPECT_EQ(normalizeRepoUrl("https://github.com/org/apps"), "https://github.com/org/apps");
}

}  // namespace skiff::gitops
