// The native and oci (runc) runtimes on a real busybox rootfs: namespaces, pivot_root, capabilities, users,
// read-only roots, mounts, exec, and the failures a user meets (missing binary, unknown user).
// Needs root and busybox-static (both are there in CI); skipped otherwise.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "runtime/runtime.h"

namespace fs = std::filesystem;
using namespace skiff::runtime;

namespace {

class IsolatingRuntimeTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    if (!fs::exists("/usr/bin/busybox") && !fs::exists("/bin/busybox")) GTEST_SKIP() << "needs busybox-static";
    char tmpl[] = "/tmp/skiff-native-XXXXXX";
    dir_ = mkdtemp(tmpl);
    layer_ = dir_ + "/layer";
    fs::create_directories(layer_ + "/bin");
    fs::create_directories(layer_ + "/etc");
    fs::create_directories(layer_ + "/tmp");
    fs::copy_file(fs::exists("/usr/bin/busybox") ? "/usr/bin/busybox" : "/bin/busybox", layer_ + "/bin/busybox");
    for (const char* a : {"sh", "echo", "cat", "id", "hostname", "ls", "sleep", "touch", "grep", "ps", "mount"})
      fs::create_symlink("busybox", layer_ + "/bin/" + a);
#ifdef SKIFF_WALLS_PROBE
    fs::copy_file(SKIFF_WALLS_PROBE, layer_ + "/bin/walls");
#endif
    std::ofstream(layer_ + "/etc/passwd") << "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n";
    std::ofstream(layer_ + "/etc/group") << "root:x:0:\napp:x:1000:\nextra:x:2000:app\n";
    if (GetParam() == "oci" && std::system("runc --version >/dev/null 2>&1") != 0) GTEST_SKIP() << "needs runc";
    runtime_ = GetParam() == "native" ? makeNativeRuntime() : makeOciRuntime(dir_ + "/runc");
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  ContainerSpec spec(std::vector<std::string> command) {
    ContainerSpec s;
    s.id = "test-" + std::to_string(getpid()) + "-" + std::to_string(counter_++);
    s.image = "test";
    s.command = std::move(command);
    s.env = {{"PATH", "/bin"}};
    s.logPath = dir_ + "/" + s.id + ".log";
    s.rootfsLayers = {layer_};
    s.bundleDir = dir_ + "/bundles/" + s.id;
    s.hostname = "pod-a";
    return s;
  }

  // Runs to completion, returns (exit code, output).
  std::pair<int, std::string> run(const ContainerSpec& s) {
    auto c = runtime_->start(s);
    EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
    if (!c.ok()) return {-1, ""};
    std::optional<ExitInfo> e;
    for (int i = 0; i < 1000 && !(e = (*c)->poll()); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (!e) e = (*c)->stop(std::chrono::milliseconds(0));
    std::ifstream in(s.logPath);
    std::stringstream out;
    out << in.rdbuf();
    return {e->exitCode, out.str()};
  }

  std::string dir_, layer_;
  std::unique_ptr<Runtime> runtime_;
  int counter_ = 0;
};

TEST_P(IsolatingRuntimeTest, RunsInItsOwnNamespacesAndRoot) {
  auto [code, out] = run(spec({"sh", "-c", "echo pid=$$; hostname; ls /; cat /proc/1/cmdline | tr '\\0' ' '; echo; id -u"}));
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("pid=1\n"), std::string::npos) << out;  // pid 1 of its own pid namespace
  EXPECT_NE(out.find("pod-a\n"), std::string::npos) << out;
  EXPECT_NE(out.find("proc"), std::string::npos) << out;
  EXPECT_EQ(out.find("home\n"), std::string::npos) << out;  // not the host's root
  EXPECT_NE(out.find("\n0\n"), std::string::npos) << out;
}

TEST_P(IsolatingRuntimeTest, DropsCapabilitiesToTheDefaultSetAndFiltersSyscalls) {
  auto [code, out] = run(spec({"sh", "-c", "grep CapBnd /proc/self/status; grep NoNewPrivs /proc/self/status; grep Seccomp: /proc/self/status; mount -t tmpfs x /tmp && echo mounted"}));
  EXPECT_NE(out.find("CapBnd:\t00000000a80425fb"), std::string::npos) << out;  // Docker's default set
  EXPECT_NE(out.find("NoNewPrivs:\t1"), std::string::npos) << out;
  EXPECT_NE(out.find("Seccomp:\t2"), std::string::npos) << out;
  EXPECT_EQ(out.find("mounted"), std::string::npos) << out;
}

TEST_P(IsolatingRuntimeTest, RunsAsTheImageUserWithItsGroups) {
  auto s = spec({"id"});
  s.security.user = "app";
  auto [code, out] = run(s);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("uid=1000"), std::string::npos) << out;
  EXPECT_NE(out.find("gid=1000"), std::string::npos) << out;
  EXPECT_NE(out.find("2000"), std::string::npos) << out;
}

TEST_P(IsolatingRuntimeTest, UnknownUserAndMissingBinaryAreClearErrors) {
  auto s = spec({"id"});
  s.security.user = "nobody-here";
  auto c = runtime_->start(s);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("unable to find user nobody-here"), std::string::npos) << c.error().message;
  auto c2 = runtime_->start(spec({"no-such-binary"}));
  ASSERT_FALSE(c2.ok());
  EXPECT_NE(c2.error().message.find("executable file not found in $PATH"), std::string::npos) << c2.error().message;
  // Nothing left mounted or on disk for the failed starts.
  EXPECT_FALSE(fs::exists(s.bundleDir));
}

TEST_P(IsolatingRuntimeTest, ReadOnlyRootAndWritableVolumes) {
  fs::create_directories(dir_ + "/vol");
  std::ofstream(dir_ + "/config.txt") << "from-configmap";
  auto s = spec({"sh", "-c", "touch /x 2>/dev/null && echo root-writable; touch /data/y && echo vol-writable; cat /etc/app/config.txt; touch /etc/app/config.txt 2>/dev/null || echo ro-file"});
  s.security.readOnlyRootFilesystem = true;
  s.mounts.push_back({dir_ + "/vol", "/data", false, false, ""});
  s.mounts.push_back({dir_ + "/config.txt", "/etc/app/config.txt", true, false, ""});
  auto [code, out] = run(s);
  EXPECT_EQ(out.find("root-writable"), std::string::npos) << out;
  EXPECT_NE(out.find("vol-writable"), std::string::npos) << out;
  EXPECT_NE(out.find("from-configmap"), std::string::npos) << out;
  EXPECT_NE(out.find("ro-file"), std::string::npos) << out;
  EXPECT_TRUE(fs::exists(dir_ + "/vol/y"));
}

TEST_P(IsolatingRuntimeTest, WritesGoToTheContainersOwnLayer) {
  auto s = spec({"sh", "-c", "echo hi > /etc/written"});
  auto [code, out] = run(s);
  EXPECT_EQ(code, 0) << out;
  EXPECT_FALSE(fs::exists(layer_ + "/etc/written"));  // the image layer is untouched
}

TEST_P(IsolatingRuntimeTest, ExecEntersTheRunningContainer) {
  auto s = spec({"sh", "-c", "echo ready > /tmp/marker; exec sleep 30"});
  auto c = runtime_->start(s);
  ASSERT_TRUE(c.ok()) << c.error().message;
  ExecResult r;
  for (int i = 0; i < 100; ++i) {
    r = runtime_->exec(**c, {"cat", "/tmp/marker"}, std::chrono::milliseconds(5000));
    if (r.exitCode == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(r.exitCode, 0) << r.output;
  EXPECT_EQ(r.output, "ready\n");
  auto h = runtime_->exec(**c, {"hostname"}, std::chrono::milliseconds(5000));
  EXPECT_EQ(h.output, "pod-a\n");
  auto missing = runtime_->exec(**c, {"nope"}, std::chrono::milliseconds(5000));
  EXPECT_NE(missing.exitCode, 0);
  auto e = (*c)->stop(std::chrono::milliseconds(100));  // pid 1 ignores SIGTERM: killed after the grace
  EXPECT_EQ(e.signal, SIGKILL);
  c->reset();
  EXPECT_FALSE(fs::exists(s.bundleDir));
}

// The walls (issue 18): what an unprivileged container may not do, checked from inside with the
// static probe (tests/helpers/walls_probe.cpp).
class ContainerWallsTest : public IsolatingRuntimeTest {
 protected:
  void SetUp() override {
    IsolatingRuntimeTest::SetUp();
    if (IsSkipped()) return;
    if (!fs::exists(layer_ + "/bin/walls")) GTEST_SKIP() << "needs the static walls_probe";
  }
  ContainerSpec walled(std::vector<std::string> command) {
    auto s = spec(std::move(command));
    s.cgroup = "walls-" + s.id;  // the devices cgroup comes with the container's cgroups
    return s;
  }
  // Runs `command` in a running container until it answers (exec right after start may race).
  ExecResult execIn(const Container& c, const std::vector<std::string>& command) {
    ExecResult r;
    for (int i = 0; i < 100; ++i) {
      r = runtime_->exec(c, command, std::chrono::milliseconds(5000));
      if (r.exitCode == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return r;
  }
};

TEST_P(ContainerWallsTest, DevicesOutsideTheDefaultSetCannotBeOpened) {
  fs::create_directories(dir_ + "/vol");
  auto s = walled({"sh", "-c",
                   "walls mknod-open /dev/xloop b 7 0; walls mknod-open /dev/xtty c 4 1; walls open /dev/null; "
                   "walls mknod-open /tmp/xnull c 1 3; walls mknod-open /data/xnull c 1 3"});
  s.mounts.push_back({dir_ + "/vol", "/data", false, false, ""});
  auto [code, out] = run(s);
  // The devices cgroup refuses a host block device and a host tty (mknod itself is allowed, as in runc).
  EXPECT_NE(out.find("open /dev/xloop: EPERM"), std::string::npos) << out;
  EXPECT_NE(out.find("open /dev/xtty: EPERM"), std::string::npos) << out;
  EXPECT_NE(out.find("open /dev/null: allowed"), std::string::npos) << out;
  // The root and the volumes are nodev: even an allowed device opens nowhere but /dev.
  EXPECT_NE(out.find("open /tmp/xnull: EACCES"), std::string::npos) << out;
  EXPECT_NE(out.find("open /data/xnull: EACCES"), std::string::npos) << out;
}

TEST_P(ContainerWallsTest, SeccompRefusesNamespaceClonesIoUringAndPersonality) {
  auto [code, out] = run(walled({"sh", "-c", "for t in clone-ns clone3-ns io-uring personality fork; do walls $t; done"}));
  EXPECT_NE(out.find("clone-ns: EPERM"), std::string::npos) << out;
  EXPECT_NE(out.find("clone3-ns: ENOSYS"), std::string::npos) << out;  // so libcs fall back to clone
  EXPECT_NE(out.find("io-uring: EPERM"), std::string::npos) << out;
  EXPECT_NE(out.find("personality: EPERM"), std::string::npos) << out;
  EXPECT_NE(out.find("fork: allowed"), std::string::npos) << out;
}

TEST_P(ContainerWallsTest, RootHasNoInheritableCapabilities) {
  auto [code, out] = run(walled({"walls", "status"}));
  EXPECT_NE(out.find("CapInh:\t0000000000000000"), std::string::npos) << out;
  EXPECT_NE(out.find("CapEff:\t00000000a80425fb"), std::string::npos) << out;
}

TEST_P(ContainerWallsTest, ContainerAndExecHoldOnlyTheirStdio) {
  int leaked = open("/dev/null", O_RDONLY);  // no O_CLOEXEC, like a careless library's fd
  ASSERT_GE(leaked, 0);
  auto s = walled({"sh", "-c", "walls fds; exec sleep 30"});
  auto c = runtime_->start(s);
  close(leaked);
  ASSERT_TRUE(c.ok()) << c.error().message;
  auto r = execIn(**c, {"walls", "fds"});
  EXPECT_EQ(r.output, "fds: 0 1 2\n");
  std::ifstream in(s.logPath);
  std::string first;
  std::getline(in, first);
  EXPECT_EQ(first, "fds: 0 1 2");
  (*c)->stop(std::chrono::milliseconds(0));
}

TEST_P(ContainerWallsTest, ExecGetsTheContainersCapabilitiesUserAndGroups) {
  auto s = walled({"sleep", "30"});
  s.security.capDrop = {"ALL"};
  auto c = runtime_->start(s);
  ASSERT_TRUE(c.ok()) << c.error().message;
  auto r = execIn(**c, {"walls", "status"});
  for (const char* line : {"CapInh:\t0000000000000000", "CapPrm:\t0000000000000000", "CapEff:\t0000000000000000",
                           "CapBnd:\t0000000000000000", "NoNewPrivs:\t1", "Seccomp:\t2"})
    EXPECT_NE(r.output.find(line), std::string::npos) << line << " in\n" << r.output;
  (*c)->stop(std::chrono::milliseconds(0));
  auto app = walled({"sleep", "30"});
  app.security.user = "app";
  auto c2 = runtime_->start(app);
  ASSERT_TRUE(c2.ok()) << c2.error().message;
  auto id = execIn(**c2, {"id"});
  EXPECT_NE(id.output.find("uid=1000"), std::string::npos) << id.output;
  EXPECT_NE(id.output.find("2000"), std::string::npos) << id.output;  // the image's supplementary group
  (*c2)->stop(std::chrono::milliseconds(0));
}

INSTANTIATE_TEST_SUITE_P(Runtimes, ContainerWallsTest, ::testing::Values("native", "oci"), [](const auto& info) { return info.param; });

INSTANTIATE_TEST_SUITE_P(Runtimes, IsolatingRuntimeTest, ::testing::Values("native", "oci"),
                         [](const auto& info) { return info.param; });

}  // namespace
