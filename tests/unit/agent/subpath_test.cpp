// subPath resolution against a pod that plants symlinks in its own volume (CVE-2017-1002101):
// the bind must stay inside the volume, and be made through the fd that was checked.
#include "agent/volumes.h"

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace skiff::agent;

namespace {

class SubPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (bind mounts)";
    char tmpl[] = "/tmp/skiff-subpath-XXXXXX";
    pod_ = mkdtemp(tmpl);
    volume_ = pod_ + "/volumes/data";
    fs::create_directories(volume_ + "/real");
    fs::create_symlink("/", volume_ + "/link");         // the attack: a link to the host's root
    fs::create_symlink("../../..", volume_ + "/up");    // ... or out through ..
    fs::create_symlink("real", volume_ + "/inside");    // a link that stays in the volume is fine
  }
  void TearDown() override {
    if (pod_.empty()) return;
    unmountSubPaths(pod_);
    fs::remove_all(pod_);
  }
  std::string point(const std::string& name) { return subPathDirOf(pod_, "c") + "/" + name; }
  std::string pod_, volume_;
};

TEST_F(SubPathTest, LinksOutOfTheVolumeAreRefused) {
  for (const char* sub : {"link", "link/etc", "up", "up/etc", "real/../link/etc"}) {
    auto s = bindSubPath(volume_, sub, point("0"));
    ASSERT_FALSE(s.ok()) << sub;
    EXPECT_NE(s.error().message.find("leads outside its volume"), std::string::npos) << s.error().message;
  }
  EXPECT_FALSE(fs::exists("/etc/skiff-subpath-probe"));
}

TEST_F(SubPathTest, BindsWhatWasResolvedAndCreatesMissingDirectories) {
  ASSERT_TRUE(bindSubPath(volume_, "inside", point("0")).ok());
  std::ofstream(point("0") + "/x") << "through the bind";
  EXPECT_TRUE(fs::exists(volume_ + "/real/x"));
  ASSERT_TRUE(bindSubPath(volume_, "new/deeper", point("1")).ok());
  EXPECT_TRUE(fs::is_directory(volume_ + "/new/deeper"));
  std::ofstream(volume_ + "/file") << "a file";
  ASSERT_TRUE(bindSubPath(volume_, "file", point("2")).ok());
  std::ifstream in(point("2"));
  std::string text;
  std::getline(in, text);
  EXPECT_EQ(text, "a file");
  // A container restart re-binds over the old point; the pod's removal unmounts them all.
  ASSERT_TRUE(bindSubPath(volume_, "inside", point("0")).ok());
  unmountSubPaths(pod_);
  std::ifstream mounts("/proc/self/mountinfo");
  std::string all((std::istreambuf_iterator<char>(mounts)), std::istreambuf_iterator<char>());
  EXPECT_EQ(all.find(pod_), std::string::npos) << "a subPath bind is still mounted";
}

// The kubelet makes missing subPath directories with the volume root's mode; under skiff's
// umask 077 they were 0700 and a container of another user could not enter them.
TEST_F(SubPathTest, CreatedDirectoriesTakeTheVolumeRootsMode) {
  const mode_t old = umask(077);
  ASSERT_EQ(chmod(volume_.c_str(), 02775), 0);
  fs::create_directories(volume_ + "/kept");
  ASSERT_EQ(chmod((volume_ + "/kept").c_str(), 0700), 0);
  auto bound = bindSubPath(volume_, "kept/made/deeper", point("0"));
  umask(old);
  ASSERT_TRUE(bound.ok()) << bound.error().message;
  auto modeOf = [](const std::string& p) {
    struct stat st {};
    EXPECT_EQ(stat(p.c_str(), &st), 0) << p;
    return st.st_mode & 07777;
  };
  EXPECT_EQ(modeOf(volume_ + "/kept/made"), 02775u);
  EXPECT_EQ(modeOf(volume_ + "/kept/made/deeper"), 02775u);
  EXPECT_EQ(modeOf(volume_ + "/kept"), 0700u) << "a directory that existed keeps its mode";
}

}  // namespace
