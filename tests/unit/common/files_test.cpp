// Files written whole (the admin kubeconfig, keys, tokens, pod volume files): their mode holds
// from the first byte, whatever the umask, and nothing planted beside them receives the data.
#include "common/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace skiff {
namespace {
namespace fs = std::filesystem;

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("skiff-files-test-" + std::to_string(getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

mode_t modeOf(const fs::path& p) {
  struct stat st{};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0);
  return st.st_mode & 07777;
}

struct Umask {
  mode_t old;
  explicit Umask(mode_t m) : old(::umask(m)) {}
  ~Umask() { ::umask(old); }
};

TEST(WriteFileAtomic, HasExactlyTheAskedModeWhateverTheUmask) {
  TempDir dir;
  {
    Umask open(0);  // a permissive umask must not widen a private file
    ASSERT_TRUE(writeFileAtomic((dir.path / "kubeconfig").string(), "token: admin\n", 0600));
  }
  EXPECT_EQ(modeOf(dir.path / "kubeconfig"), 0600u);
  EXPECT_EQ(read(dir.path / "kubeconfig"), "token: admin\n");
  {
    Umask strict(077);  // and a strict one must not narrow a file a container's user reads
    ASSERT_TRUE(writeFileAtomic((dir.path / "ca.crt").string(), "pem", 0644));
  }
  EXPECT_EQ(modeOf(dir.path / "ca.crt"), 0644u);
  EXPECT_FALSE(fs::exists(dir.path / "ca.crt.tmp"));
}

TEST(WriteFileAtomic, AReaderHoldingTheStaleTemporaryFileSeesNothing) {
  // A local user who opened a world-readable leftover `kubeconfig.tmp` keeps reading that inode:
  // the data must go to a fresh one.
  TempDir dir;
  fs::path tmp = dir.path / "kubeconfig.tmp";
  { std::ofstream(tmp) << ""; }
  fs::permissions(tmp, fs::perms(0644));
  int spy = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(spy, 0);
  ASSERT_TRUE(writeFileAtomic((dir.path / "kubeconfig").string(), "token: admin\n", 0600));
  char buf[64];
  EXPECT_EQ(::pread(spy, buf, sizeof buf, 0), 0);
  ::close(spy);
  EXPECT_EQ(read(dir.path / "kubeconfig"), "token: admin\n");
}

TEST(WriteFileAtomic, APlantedSymlinkDoesNotReceiveTheData) {
  TempDir dir;
  fs::path bait = dir.path / "attacker-readable";
  { std::ofstream(bait) << ""; }
  fs::create_symlink(bait, dir.path / "kubeconfig.tmp");
  ASSERT_TRUE(writeFileAtomic((dir.path / "kubeconfig").string(), "token: admin\n", 0600));
  EXPECT_EQ(read(bait), "");
  EXPECT_EQ(read(dir.path / "kubeconfig"), "token: admin\n");
  EXPECT_FALSE(fs::is_symlink(dir.path / "kubeconfig"));
}

TEST(WriteFileAtomic, FailsWithTheReasonWhenTheDirectoryIsMissing) {
  TempDir dir;
  auto r = writeFileAtomic((dir.path / "missing" / "file").string(), "x", 0600);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("missing/file"), std::string::npos) << r.error().message;
}

TEST(MakePrivateDir, CreatesAndNarrowsToOwnerOnly) {
  TempDir dir;
  fs::path made = dir.path / "a" / "data";
  ASSERT_TRUE(makePrivateDir(made.string()));
  EXPECT_EQ(modeOf(made) & 077, 0u);
  fs::permissions(made, fs::perms(0755));  // an older skiff's data dir
  ASSERT_TRUE(makePrivateDir(made.string()));
  EXPECT_EQ(modeOf(made), 0700u);
}

}  // namespace
}  // namespace skiff
