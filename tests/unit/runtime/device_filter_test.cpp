// The eBPF device filter for cgroup v2, checked against the kernel: a process in a group with
// the filter can create any device node but open only the default devices.
#include "runtime/device_filter.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <tuple>

namespace fs = std::filesystem;
using namespace skiff::runtime;

namespace {

std::string cgroup2Mount() {
  std::ifstream mounts("/proc/self/mounts");
  std::string dev, dir, type, rest;
  while (mounts >> dev >> dir >> type && std::getline(mounts, rest))
    if (type == "cgroup2") return dir;
  return "";
}

class DeviceFilterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (cgroups, mknod, bpf)";
    std::string mount = cgroup2Mount();
    if (mount.empty()) GTEST_SKIP() << "no cgroup2 mount";
    group_ = mount + "/skiff-devfilter-test-" + std::to_string(getpid());
    ASSERT_TRUE(fs::create_directory(group_)) << group_;
    char tmpl[] = "/tmp/skiff-devnodes-XXXXXX";
    nodes_ = mkdtemp(tmpl);
  }
  void TearDown() override {
    if (!group_.empty()) rmdir(group_.c_str());
    if (!nodes_.empty()) fs::remove_all(nodes_);
  }

  // Runs a child in the group: it makes a node of `type` major:minor and opens it read-write.
  // Returns 0 when both worked, 1 when mknod failed, 2 when open failed, with errno in `err`.
  int tryDevice(mode_t type, unsigned major, unsigned minor, const std::string& name, int& err) {
    int pipe[2];
    EXPECT_EQ(::pipe(pipe), 0);
    const std::string procs = group_ + "/cgroup.procs", path = nodes_ + "/" + name;
    pid_t child = fork();
    if (child == 0) {  // only system calls from here: the test binary may have threads
      close(pipe[0]);
      int code = 0, e = 0;
      int p = open(procs.c_str(), O_WRONLY | O_CLOEXEC);
      if (p < 0 || write(p, "0", 1) != 1) code = 3, e = errno;
      else if (mknod(path.c_str(), type | 0600, makedev(major, minor)) != 0 && errno != EEXIST) code = 1, e = errno;
      else {
        int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
        if (fd < 0) code = 2, e = errno;
        else close(fd);
      }
      (void)!write(pipe[1], &e, sizeof e);
      _exit(code);
    }
    close(pipe[1]);
    err = 0;
    (void)!read(pipe[0], &err, sizeof err);
    close(pipe[0]);
    int status = 0;
    waitpid(child, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  std::string group_, nodes_;
};

TEST_F(DeviceFilterTest, WithoutTheFilterHostDevicesOpen) {
  // The control: the same child without a filter opens the host's loop device and kernel log,
  // so the test below fails if the filter does nothing.
  int err = 0;
  EXPECT_EQ(tryDevice(S_IFBLK, 7, 0, "loop0", err), 0) << std::strerror(err);
  EXPECT_EQ(tryDevice(S_IFCHR, 1, 11, "kmsg", err), 0) << std::strerror(err);
}

TEST_F(DeviceFilterTest, OnlyTheDefaultDevicesOpen) {
  auto attached = attachDeviceFilter(group_, defaultDeviceRules());
  ASSERT_TRUE(attached.ok()) << attached.error().message;
  int err = 0;
  EXPECT_EQ(tryDevice(S_IFCHR, 1, 3, "null", err), 0) << std::strerror(err);
  EXPECT_EQ(tryDevice(S_IFCHR, 1, 9, "urandom", err), 0) << std::strerror(err);
  EXPECT_EQ(tryDevice(S_IFCHR, 1, 7, "full", err), 0) << std::strerror(err);
  for (auto [type, major, minor, name] : {std::tuple{S_IFBLK, 7u, 0u, "loop0"}, std::tuple{S_IFCHR, 1u, 11u, "kmsg"},
                                          std::tuple{S_IFCHR, 4u, 1u, "tty1"}, std::tuple{S_IFCHR, 10u, 237u, "loop-control"}}) {
    EXPECT_EQ(tryDevice(type, major, minor, name, err), 2) << name << " opened";
    EXPECT_EQ(err, EPERM) << name << ": " << std::strerror(err);
  }
}

TEST(DeviceFilterProgram, EndsWithDenyAndJumpsStayInside) {
  auto program = deviceFilterProgram(defaultDeviceRules());
  ASSERT_GE(program.size(), 2u);
  EXPECT_EQ(program[program.size() - 2].imm, 0);  // r0 = 0: deny
  for (size_t i = 0; i < program.size(); ++i) {
    if (BPF_CLASS(program[i].code) == BPF_JMP && BPF_OP(program[i].code) == BPF_JNE) {
      EXPECT_GT(program[i].off, 0);
      EXPECT_LT(i + 1 + size_t(program[i].off), program.size());
    }
  }
}

}  // namespace
