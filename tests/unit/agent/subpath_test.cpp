// subPath resolution against a pod that plants symlinks in its own volume (CVE-2017-1002101):
// the bind must stay inside the volume, and be made through the fd that was checked.
#include "agent/volumes.h"

#include <gtest/gtest.h>
#include <sys/mount.h>
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

}  // namespace
