// The `native` runtime: each container is a clone() of the agent into new pid, mount, uts and ipc
// namespaces, joined to its pod's network namespace, with an overlayfs root over the image's
// layers, /proc /dev /sys set up, pivot_root, the default capability set, no_new_privs, the default
// seccomp filter and the image's (or the pod's) user.
//
// The parent does everything that allocates or can fail in interesting ways (mounting the overlay,
// resolving users, executables and mount points inside the untrusted rootfs, compiling seccomp);
// the child between clone() and execve() only makes system calls on prepared data, and reports a
// failure through a close-on-exec pipe as a step and an errno.
#include <fcntl.h>
#include <poll.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <grp.h>
#include <map>
#include <mutex>
#include <optional>

#include "common/log.h"
#include "runtime/native/rootfs.h"
#include "runtime/native/security.h"
#include "runtime/runtime.h"

namespace skiff::runtime {
namespace fs = std::filesystem;
namespace {

// One mount the child makes, all strings owned by the plan.
struct PlannedMount {
  std::string source, target, fstype, data;
  unsigned long flags = 0;
  unsigned long remountFlags = 0;  // binds: per-mount flags (ro, nodev) need a second mount
  bool optional = false;         // masks of /proc paths the kernel may not have
  bool populatesDev = false;     // the /dev tmpfs: device nodes and links follow it
};

struct DeviceNode {
  std::string path;
  unsigned major, minor;
};

// Everything the child needs, prepared by the parent.
struct ChildPlan {
  std::vector<std::string> cgroupProcs;
  int netnsFd = -1;
  std::string rootfs;
  std::vector<PlannedMount> mounts;
  std::vector<DeviceNode> devices;
  std::vector<std::string> devDirs;  // made in /dev's fresh tmpfs
  std::vector<std::pair<std::string, std::string>> symlinks;  // target, link path
  std::string hostname, workingDir, executable;
  std::vector<std::string> argv, env;
  uint32_t uid = 0, gid = 0;
  std::vector<gid_t> groups;
  uint64_t capabilities = 0;
  int lastCapability = 40;  // read before clone: the child must not allocate (or take a lock)
  bool privileged = false, noNewPrivileges = true, readOnlyRoot = false, seccomp = true;
  bool ownUts = true;  // false with hostNetwork: the node's host name must stay untouched
  int logFd = -1;
};

// What the container's first process runs with. An exec into the container gets exactly this
// (Kubernetes' exec is the container's process spec with another command); it is kept in the
// container's directory so an agent that adopts the container after a restart knows it too.
struct Confinement {
  uint32_t uid = 0, gid = 0;
  std::vector<gid_t> groups;
  uint64_t capabilities = 0;
  bool privileged = false, noNewPrivileges = true;

  std::string serialize() const {
    std::string out = std::to_string(uid) + " " + std::to_string(gid) + " " + std::to_string(capabilities) + " " +
                      (privileged ? "1" : "0") + " " + (noNewPrivileges ? "1" : "0");
    for (gid_t g : groups) out += " " + std::to_string(g);
    return out + "\n";
  }
  static std::optional<Confinement> read(const std::string& path) {
    std::ifstream in(path);
    Confinement c;
    int privileged = 0, nnp = 1;
    if (!(in >> c.uid >> c.gid >> c.capabilities >> privileged >> nnp)) return std::nullopt;
    c.privileged = privileged == 1;
    c.noNewPrivileges = nnp == 1;
    for (gid_t g; in >> g;) c.groups.push_back(g);
    return c;
  }
};

enum Step : int {
  kCgroup = 1, kSetsid, kNetns, kPrivate, kMount, kDevice, kSymlink, kPivot, kHostname, kReadOnlyRoot,
  kChdir, kStdio, kCapBound, kNoNewPrivs, kSeccomp, kGroups, kSetgid, kSetuid, kCapset, kExec
};

const char* stepName(int step) {
  switch (step) {
    case kCgroup: return "joining the container's cgroup";
    case kSetsid: return "setsid";
    case kNetns: return "joining the pod network namespace";
    case kPrivate: return "making mounts private";
    case kMount: return "mounting";
    case kDevice: return "creating a device node";
    case kSymlink: return "creating /dev links";
    case kPivot: return "pivot_root";
    case kHostname: return "setting the host name";
    case kReadOnlyRoot: return "making the root file system read-only";
    case kChdir: return "changing to the working directory";
    case kStdio: return "setting up stdio";
    case kCapBound: return "dropping capabilities";
    case kNoNewPrivs: return "setting no_new_privs";
    case kSeccomp: return "installing the seccomp filter";
    case kGroups: return "setting supplementary groups";
    case kSetgid: return "setgid";
    case kSetuid: return "setuid";
    case kCapset: return "setting capabilities";
    case kExec: return "exec";
  }
  return "starting the container";
}

// One fd over a unix socket (SCM_RIGHTS) with a one-byte message; allocation-free, so a forked
// child may call it.
bool sendFd(int socket, int fd) {
  char byte = 0;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* cm = CMSG_FIRSTHDR(&msg);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(cm), &fd, sizeof(int));
  return sendmsg(socket, &msg, 0) == 1;
}

// The fd sendFd sent (close-on-exec), or -1 after timeoutMs.
int receiveFd(int socket, int timeoutMs) {
  pollfd p{socket, POLLIN, 0};
  if (::poll(&p, 1, timeoutMs) <= 0) return -1;
  char byte;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  int fd = -1;
  if (recvmsg(socket, &msg, MSG_CMSG_CLOEXEC) == 1)
    if (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm && cm->cmsg_type == SCM_RIGHTS) std::memcpy(&fd, CMSG_DATA(cm), sizeof(int));
  return fd;
}

// Runs in the cloned child: system calls only, on data prepared by the parent. No allocation,
// no locks, no glibc wrappers that assume they know the process's threads.
[[noreturn]] void childMain(ChildPlan& plan, int errFd, std::vector<const char*>& argv, std::vector<const char*>& envp,
                            sock_fprog* filter) {
  auto fail = [&](int step, int detail = 0) {
    int report[3] = {step, errno, detail};
    ssize_t n = write(errFd, report, sizeof report);
    (void)n;
    _exit(127);
  };
  for (const auto& p : plan.cgroupProcs) {
    int fd = open(p.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "0", 1) != 1) fail(kCgroup);
    close(fd);
  }
  if (setsid() < 0) fail(kSetsid);
  if (plan.netnsFd >= 0 && setns(plan.netnsFd, CLONE_NEWNET) != 0) fail(kNetns);
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) fail(kPrivate);
  umask(0);
  for (size_t i = 0; i < plan.mounts.size(); ++i) {
    const auto& m = plan.mounts[i];
    if (mount(m.source.empty() ? nullptr : m.source.c_str(), m.target.c_str(), m.fstype.empty() ? nullptr : m.fstype.c_str(),
              m.flags, m.data.empty() ? nullptr : m.data.c_str()) != 0) {
      if (m.optional) continue;
      fail(kMount, int(i));
    }
    if (m.remountFlags && mount(nullptr, m.target.c_str(), nullptr, MS_REMOUNT | MS_BIND | m.remountFlags, nullptr) != 0 && !m.optional)
      fail(kMount, int(i));
    // Device nodes and links go into /dev right after its tmpfs is mounted.
    if (m.populatesDev) {
      for (const auto& d : plan.devices)
        if (mknod(d.path.c_str(), S_IFCHR | 0666, makedev(d.major, d.minor)) != 0) fail(kDevice);
      for (const auto& [target, link] : plan.symlinks)
        if (symlink(target.c_str(), link.c_str()) != 0) fail(kSymlink);
      for (const auto& d : plan.devDirs)
        if (mkdir(d.c_str(), 0755) != 0) fail(kDevice);
    }
  }
  if (chdir(plan.rootfs.c_str()) != 0 || syscall(SYS_pivot_root, ".", ".") != 0 || umount2(".", MNT_DETACH) != 0 || chdir("/") != 0)
    fail(kPivot);
  if (plan.ownUts && sethostname(plan.hostname.c_str(), plan.hostname.size()) != 0) fail(kHostname);
  // A remount replaces the per-mount flags: keep the root's nodev.
  if (plan.readOnlyRoot && mount(nullptr, "/", nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | (plan.privileged ? 0 : MS_NODEV), nullptr) != 0)
    fail(kReadOnlyRoot);
  umask(022);
  if (!plan.workingDir.empty() && chdir(plan.workingDir.c_str()) != 0) fail(kChdir);
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(plan.logFd, 1) < 0 || dup2(plan.logFd, 2) < 0) fail(kStdio);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);
  if (!plan.privileged) {
    for (int cap = 0; cap <= plan.lastCapability; ++cap)
      if (!(plan.capabilities & (uint64_t(1) << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) fail(kCapBound);
  }
  if (plan.noNewPrivileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail(kNoNewPrivs);
  if (filter && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, filter) != 0) fail(kSeccomp);
  // Raw system calls: glibc's set*id() would try to change every thread it believes exists,
  // and after a raw clone it still believes in the agent's threads.
  if (syscall(SYS_setgroups, plan.groups.size(), plan.groups.data()) != 0) fail(kGroups);
  if (syscall(SYS_setgid, plan.gid) != 0) fail(kSetgid);
  if (syscall(SYS_setuid, plan.uid) != 0) fail(kSetuid);
  if (plan.uid == 0 && !plan.privileged) {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {};
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    // Inheritable stays empty (CVE-2022-24769): a file's inheritable caps must not add to them.
    for (int i = 0; i < 2; ++i) data[i].effective = data[i].permitted = uint32_t(plan.capabilities >> (32 * i));
    if (syscall(SYS_capset, &header, data) != 0) fail(kCapset);
  }
  closeFdsOnExec();
  execve(plan.executable.c_str(), const_cast<char* const*>(argv.data()), const_cast<char* const*>(envp.data()));
  fail(kExec);
  _exit(127);
}

class NativeRuntime final : public Runtime {
 public:
  std::string name() const override { return "native"; }

  Result<std::unique_ptr<Container>> start(const ContainerSpec& spec) override {
    if (spec.bundleDir.empty()) return Error::internal("no container directory given");
    if (Status s = mountOverlayRoot(spec.rootfsLayers, spec.bundleDir, spec.image, !spec.security.privileged); !s) return s.error();
    ChildPlan plan;
    plan.rootfs = spec.bundleDir + "/rootfs";
    std::string bundle = spec.bundleDir;
    auto cleanup = [bundle] { removeOverlayRoot(bundle); };
    auto result = prepareAndStart(spec, plan);
    if (!result) {
      cleanup();
      return result.error();
    }
    auto [pid, cgroup] = std::move(*result);
    Confinement confinement{plan.uid, plan.gid, plan.groups, plan.capabilities, plan.privileged, plan.noNewPrivileges};
    std::ofstream(bundle + "/confinement") << confinement.serialize();
    remember(pid, bundle);
    return makeChildContainer(pid, std::move(cgroup), [this, pid, cleanup] {
      forget(pid);
      cleanup();
    });
  }

  Result<ExecProcess> startExec(const Container& container, const std::vector<std::string>& command, bool withStdin,
                                ExecStdio stdio) override {
    if (command.empty()) return Error::badRequest("no command to run");
    int pid = container.pid();
    auto confinement = confinementOf(pid);
    if (!confinement) return Error::conflict("container is not running (or was started by an older skiff that kept no record of its confinement)");
    const SeccompProgram& seccomp = defaultSeccomp(confinement->capabilities);
    if (!confinement->privileged && seccomp.instructions.empty())
      return Error::internal("the default seccomp profile could not be compiled (libseccomp)");
    std::vector<int> nsFds;
    for (const char* ns : {"ipc", "uts", "net", "pid", "mnt"}) {
      int fd = open(("/proc/" + std::to_string(pid) + "/ns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        for (int f : nsFds) close(f);
        return Error::conflict("container is not running");
      }
      nsFds.push_back(fd);
    }
    // A terminal is allocated inside the container (its own devpts, so ttyname() works there)
    // by the child that entered its namespaces, and the master comes back over a socket pair.
    bool terminal = stdio == ExecStdio::kTerminal;
    int ptySocket[2] = {-1, -1};
    Result<ExecPipes> pipes = terminal ? Result<ExecPipes>(ExecPipes{}) : ExecPipes::make(withStdin, stdio);
    if (terminal && socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, ptySocket) != 0) pipes = Error::internal("socketpair failed");
    if (!pipes) {
      for (int f : nsFds) close(f);
      return pipes.error();
    }
    // PATH lookup candidates, built here: the child must not allocate.
    std::vector<std::string> candidates;
    if (command[0].find('/') != std::string::npos) candidates.push_back(command[0]);
    else
      for (const char* dir : {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"})
        candidates.push_back(std::string(dir) + "/" + command[0]);
    std::vector<const char*> argv;
    for (const auto& a : command) argv.push_back(a.c_str());
    argv.push_back(nullptr);
    // The container's own environment (as its first process started with it), as CRI runtimes
    // give exec'd commands; a bare PATH if it cannot be read. TERM for terminals.
    std::vector<std::string> envStrings;
    {
      std::ifstream environ("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
      std::string all((std::istreambuf_iterator<char>(environ)), std::istreambuf_iterator<char>());
      for (size_t at = 0; at < all.size();) {
        size_t end = all.find('\0', at);
        if (end == std::string::npos) end = all.size();
        if (end > at) envStrings.push_back(all.substr(at, end - at));
        at = end + 1;
      }
    }
    if (envStrings.empty()) envStrings.push_back("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    if (terminal) envStrings.push_back("TERM=xterm");
    std::vector<const char*> envPointers;
    for (const auto& e : envStrings) envPointers.push_back(e.c_str());
    envPointers.push_back(nullptr);
    const char* const* envp = envPointers.data();
    std::vector<std::string> procs = cgroupProcsOf(pid);
    sock_fprog filter{uint16_t(seccomp.instructions.size()), const_cast<sock_filter*>(seccomp.instructions.data())};
    const Confinement& who = *confinement;
    const int lastCap = lastCapability();
    int in = pipes->childIn, out = pipes->childOut, err = pipes->childErr;
    int keptIn = pipes->parent.stdinFd, keptOut = pipes->parent.stdoutFd, keptErr = pipes->parent.stderrFd;
    pid_t child = fork();
    if (child == 0) {
      // This child never execs: drop the caller's pipe ends, or stdin would never reach EOF.
      for (int fd : {keptIn, keptOut, keptErr})
        if (fd >= 0) close(fd);
      for (const auto& p : procs) {
        int fd = open(p.c_str(), O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
          ssize_t n = write(fd, "0", 1);
          (void)n;
          close(fd);
        }
      }
      setsid();
      for (int fd : nsFds)
        if (setns(fd, 0) != 0) _exit(126);
      if (terminal) {
        close(ptySocket[0]);
        int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
        int unlock = 0;
        if (master < 0 || ioctl(master, TIOCSPTLCK, &unlock) != 0) _exit(126);
        int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
        if (slave < 0) _exit(126);
        if (!sendFd(ptySocket[1], master)) _exit(126);
        close(master);
        close(ptySocket[1]);
        in = out = err = slave;
      }
      // Entering a pid namespace applies to children: fork once more.
      pid_t inner = fork();
      if (inner == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        dup2(in >= 0 ? in : devnull, 0);
        dup2(out, 1);
        dup2(err, 2);
        if (terminal) {
          setsid();
          ioctl(1, TIOCSCTTY, 0);
        }
        if (chdir("/") != 0) _exit(126);
        umask(022);  // the container's, not skiff's 077
        // The container's confinement, in the order its first process got it.
        if (!who.privileged) {
          for (int cap = 0; cap <= lastCap; ++cap)
            if (!(who.capabilities & (uint64_t(1) << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) _exit(126);
        }
        if (who.noNewPrivileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(126);
        if (!who.privileged && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &filter) != 0) _exit(126);
        if (setgroups(who.groups.size(), who.groups.data()) != 0 || setgid(who.gid) != 0 || setuid(who.uid) != 0) _exit(126);
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
        if (who.uid == 0 && !who.privileged) {
          __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
          __user_cap_data_struct data[2] = {};
          for (int i = 0; i < 2; ++i) data[i].effective = data[i].permitted = uint32_t(who.capabilities >> (32 * i));
          if (syscall(SYS_capset, &header, data) != 0) _exit(126);
        }
        closeFdsOnExec();
        for (const auto& c : candidates) execve(c.c_str(), const_cast<char* const*>(argv.data()), const_cast<char* const*>(envp));
        const char msg[] = "exec failed: executable file not found in $PATH\n";
        ssize_t n = write(2, msg, sizeof msg - 1);
        (void)n;
        _exit(127);
      }
      // Close our copies so the caller sees EOF when the command ends.
      close(out);  // with a terminal all three are this one fd
      if (err != out) close(err);
      if (in >= 0 && in != out) close(in);
      int status = 0;
      while (waitpid(inner, &status, 0) < 0 && errno == EINTR) {
      }
      _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    }
    for (int f : nsFds) close(f);
    if (!terminal) return pipes->afterFork(child);
    close(ptySocket[1]);
    int master = child > 0 ? receiveFd(ptySocket[0], 5000) : -1;
    close(ptySocket[0]);
    if (master < 0) {
      if (child > 0) {
        ::kill(child, SIGKILL);
        waitpid(child, nullptr, 0);
      }
      return Error::internal("could not allocate a terminal in the container");
    }
    ExecProcess proc;
    proc.pid = child;
    proc.stdoutFd = master;
    proc.stdinFd = withStdin ? fcntl(master, F_DUPFD_CLOEXEC, 0) : -1;
    return proc;
  }

  Result<std::unique_ptr<Container>> adopt(const ContainerRecord& record) override {
    std::string bundle = record.bundleDir;
    auto cleanup = [bundle] { removeOverlayRoot(bundle); };
    if (record.pid <= 0 || processStartTicks(record.pid) != record.startTicks) return Error::notFound("container " + record.id + " is gone");
    remember(record.pid, bundle);
    return makeAdoptedContainer(record, [this, pid = record.pid, cleanup] {
      forget(pid);
      cleanup();
    });
  }

 private:
  std::mutex mutex_;                    // starts on the agent's thread, execs on API threads
  std::map<int, std::string> bundles_;  // container pid -> its directory (and confinement)

  void remember(int pid, const std::string& bundle) {
    std::lock_guard lock(mutex_);
    bundles_[pid] = bundle;
  }
  void forget(int pid) {
    std::lock_guard lock(mutex_);
    bundles_.erase(pid);
  }
  std::optional<Confinement> confinementOf(int pid) {
    std::lock_guard lock(mutex_);
    auto it = bundles_.find(pid);
    return it == bundles_.end() ? std::nullopt : Confinement::read(it->second + "/confinement");
  }

  // The cgroup.procs files of the cgroups `pid` is in (exec joins the container's cgroups).
  static std::vector<std::string> cgroupProcsOf(int pid) {
    std::vector<std::string> out;
    std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
    for (std::string line; std::getline(in, line);) {
      // "N:controllers:/path"
      auto a = line.find(':'), b = line.find(':', a + 1);
      if (a == std::string::npos || b == std::string::npos) continue;
      std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
      if (path == "/") continue;
      std::string base = controllers.empty() ? (fs::exists("/sys/fs/cgroup/unified") ? "/sys/fs/cgroup/unified" : "/sys/fs/cgroup")
                                             : "/sys/fs/cgroup/" + controllers.substr(0, controllers.find(','));
      if (controllers.starts_with("name=")) continue;
      std::string file = base + path + "/cgroup.procs";
      if (fs::exists(file)) out.push_back(file);
    }
    return out;
  }

  Result<std::pair<int, std::unique_ptr<Cgroup>>> prepareAndStart(const ContainerSpec& spec, ChildPlan& plan) {
    const std::string& root = plan.rootfs;
    // Who runs it.
    auto user = resolveUser(root, spec.security.user);
    if (!user) return user.error();
    plan.uid = user->uid;
    plan.gid = spec.security.runAsGroup >= 0 ? uint32_t(spec.security.runAsGroup) : user->gid;
    for (auto g : user->groups) plan.groups.push_back(g);
    for (auto g : spec.security.supplementalGroups) plan.groups.push_back(gid_t(g));
    plan.privileged = spec.security.privileged;
    plan.noNewPrivileges = spec.security.noNewPrivileges && !spec.security.privileged;
    plan.readOnlyRoot = spec.security.readOnlyRootFilesystem;
    auto caps = containerCapabilities(plan.privileged, spec.security.capAdd, spec.security.capDrop);
    if (!caps) return caps.error();
    plan.capabilities = *caps;
    plan.lastCapability = lastCapability();
    plan.seccomp = !plan.privileged;
    // What runs.
    std::string pathVariable;
    for (const auto& [k, v] : spec.env)
      if (k == "PATH") pathVariable = v;
    if (spec.command.empty()) return Error::badRequest("no command specified: the image has no entrypoint or cmd and the pod sets none");
    auto exe = findExecutable(root, spec.command[0], pathVariable);
    if (!exe) return exe.error();
    plan.executable = *exe;
    plan.argv = spec.command;
    for (const auto& [k, v] : spec.env) plan.env.push_back(k + "=" + v);
    bool hasHome = std::any_of(spec.env.begin(), spec.env.end(), [](auto& kv) { return kv.first == "HOME"; });
    if (!hasHome) plan.env.push_back("HOME=" + user->home);
    plan.hostname = spec.hostname.empty() ? spec.id.substr(0, 63) : spec.hostname;
    plan.workingDir = spec.workingDir;
    if (!plan.workingDir.empty()) {
      auto wd = makeInRoot(root, plan.workingDir, false);
      if (!wd) return wd.error();
      if (chown(wd->c_str(), plan.uid, plan.gid) != 0) {
        // best effort, as runc: an existing directory keeps its owner
      }
    }
    // The file systems every container gets.
    auto point = [&](const std::string& inside, bool file) { return makeInRoot(root, inside, file); };
    auto addMount = [&](const std::string& inside, PlannedMount m, bool file = false) -> Status {
      auto target = point(inside, file);
      if (!target) return target.error();
      m.target = *target;
      plan.mounts.push_back(std::move(m));
      return {};
    };
    const unsigned long nosuid = MS_NOSUID, nodev = MS_NODEV, noexec = MS_NOEXEC;
    if (Status s = addMount("/proc", {"proc", "", "proc", "", nosuid | nodev | noexec}); !s) return s.error();
    if (Status s = addMount("/dev", {"tmpfs", "", "tmpfs", "mode=755,size=65536k", nosuid | MS_STRICTATIME}); !s) return s.error();
    plan.mounts.back().populatesDev = true;
    std::string dev = root + "/dev";
    for (auto [name, major, minor] : {std::tuple{"null", 1u, 3u}, {"zero", 1u, 5u}, {"full", 1u, 7u}, {"random", 1u, 8u},
                                      {"urandom", 1u, 9u}, {"tty", 5u, 0u}})
      plan.devices.push_back({dev + "/" + name, major, minor});
    for (auto [target, link] : {std::pair{"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"},
                                {"/proc/self/fd/2", "stderr"}, {"pts/ptmx", "ptmx"}, {"/proc/kcore", "core"}})
      plan.symlinks.emplace_back(target, dev + "/" + link);
    // /dev is empty until the child mounts its tmpfs; the child makes these mount points then.
    for (const char* sub : {"/pts", "/shm", "/mqueue"}) plan.devDirs.push_back(dev + sub);
    plan.mounts.push_back({"devpts", dev + "/pts", "devpts", "newinstance,ptmxmode=0666,mode=0620", nosuid | noexec});
    if (spec.hostIPC) plan.mounts.push_back({"/dev/shm", dev + "/shm", "", "", MS_BIND | MS_REC});
    else plan.mounts.push_back({"shm", dev + "/shm", "tmpfs", "mode=1777,size=65536k", nosuid | nodev | noexec});
    plan.mounts.push_back({"mqueue", dev + "/mqueue", "mqueue", "", nosuid | nodev | noexec});
    if (Status s = addMount("/sys", {"sysfs", "", "sysfs", "", nosuid | nodev | noexec | MS_RDONLY}); !s) return s.error();
    for (const auto& m : spec.mounts) {
      PlannedMount pm;
      if (m.tmpfs) {
        pm = {"tmpfs", "", "tmpfs", m.tmpfsOptions, nosuid | nodev};
      } else {
        pm = {m.source, "", "", "", MS_BIND | MS_REC};
        pm.remountFlags = (m.readOnly ? MS_RDONLY : 0) | (plan.privileged ? 0 : MS_NODEV);
      }
      bool file = !m.tmpfs && !fs::is_directory(m.source);
      if (Status s = addMount(m.target, pm, file); !s) return s.error();
    }
    if (!plan.privileged) {
      for (const char* masked : {"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/proc/acpi", "/sys/firmware"}) {
        bool dir = std::string(masked) == "/proc/acpi" || std::string(masked) == "/sys/firmware";
        PlannedMount pm = dir ? PlannedMount{"tmpfs", root + masked, "tmpfs", "size=0", MS_RDONLY} : PlannedMount{"/dev/null", root + masked, "", "", MS_BIND};
        pm.optional = true;
        plan.mounts.push_back(pm);
      }
      for (const char* ro : {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}) {
        PlannedMount pm{root + ro, root + ro, "", "", MS_BIND | MS_REC};
        pm.remountFlags = MS_RDONLY;
        pm.optional = true;
        plan.mounts.push_back(pm);
      }
    }
    // Resources, network, logs.
    std::unique_ptr<Cgroup> cgroup;
    if (!spec.cgroup.empty()) {
      ResourceLimits limits = spec.limits;
      limits.defaultDevicesOnly = !plan.privileged;
      auto cg = Cgroup::create(spec.cgroup, limits);
      if (!cg) return cg.error();
      cgroup = std::move(*cg);
      plan.cgroupProcs = cgroup->procsFiles();
    }
    struct FdCloser {
      int fd = -1;
      ~FdCloser() {
        if (fd >= 0) close(fd);
      }
    } netns, log;
    if (!spec.netnsPath.empty()) {
      netns.fd = plan.netnsFd = open(spec.netnsPath.c_str(), O_RDONLY | O_CLOEXEC);
      if (plan.netnsFd < 0) return Error::internal("cannot open the pod network namespace " + spec.netnsPath + ": " + std::strerror(errno));
    }
    log.fd = plan.logFd = open(spec.logPath.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (plan.logFd < 0) return Error::internal("cannot open log " + spec.logPath + ": " + std::strerror(errno));
    int errPipe[2];
    if (pipe2(errPipe, O_CLOEXEC) != 0) return Error::internal(std::string("pipe: ") + std::strerror(errno));
    std::vector<const char*> argv, envp;
    for (const auto& a : plan.argv) argv.push_back(a.c_str());
    argv.push_back(nullptr);
    for (const auto& e : plan.env) envp.push_back(e.c_str());
    envp.push_back(nullptr);
    const SeccompProgram& seccomp = defaultSeccomp(plan.capabilities);
    if (plan.seccomp && seccomp.instructions.empty()) return Error::internal("the default seccomp profile could not be compiled (libseccomp)");
    sock_fprog filter{uint16_t(seccomp.instructions.size()), const_cast<sock_filter*>(seccomp.instructions.data())};
    sock_fprog* filterPtr = plan.seccomp ? &filter : nullptr;
    // A raw clone with SIGCHLD behaves as fork() into the new namespaces.
    plan.ownUts = !spec.hostNetwork;
    unsigned long namespaces = CLONE_NEWNS | (spec.hostPID ? 0 : CLONE_NEWPID) | (spec.hostIPC ? 0 : CLONE_NEWIPC) |
                               (spec.hostNetwork ? 0 : CLONE_NEWUTS);
    long pid = syscall(SYS_clone, namespaces | SIGCHLD, nullptr, nullptr, nullptr, nullptr);
    if (pid == 0) {
      close(errPipe[0]);
      childMain(plan, errPipe[1], argv, envp, filterPtr);
    }
    close(errPipe[1]);
    if (pid < 0) {
      close(errPipe[0]);
      return Error::internal(std::string("clone: ") + std::strerror(errno));
    }
    int report[3] = {0, 0, 0};
    ssize_t n = -1;
    // The pipe closes at exec (or carries a failure). A child stuck on the way is killed rather
    // than left to hold up the agent.
    pollfd pfd{errPipe[0], POLLIN, 0};
    int ready;
    while ((ready = poll(&pfd, 1, 30000)) < 0 && errno == EINTR) {
    }
    if (ready > 0)
      while ((n = read(errPipe[0], report, sizeof report)) < 0 && errno == EINTR) {
      }
    close(errPipe[0]);
    if (ready == 0) {
      ::kill(pid_t(pid), SIGKILL);
      int status;
      waitpid(pid_t(pid), &status, 0);
      return Error::internal("the container did not reach exec within 30 s and was killed");
    }
    if (n == ssize_t(sizeof report)) {
      int status;
      waitpid(pid_t(pid), &status, 0);
      std::string why = std::strerror(report[1]);
      std::string what = stepName(report[0]);
      if (report[0] == kMount && report[2] >= 0 && size_t(report[2]) < plan.mounts.size()) {
        std::string target = plan.mounts[size_t(report[2])].target;
        what += " " + (target.starts_with(root) ? target.substr(root.size()) : target);
      }
      if (report[0] == kChdir) return Error::badRequest("chdir to cwd (\"" + plan.workingDir + "\") set in config.json failed: " + why);
      if (report[0] == kExec) return Error::badRequest("exec: \"" + spec.command[0] + "\": " + why);
      return Error::internal("starting the container failed while " + what + ": " + why);
    }
    return std::make_pair(int(pid), std::move(cgroup));
  }
};

}  // namespace

std::unique_ptr<Runtime> makeNativeRuntime() { return std::make_unique<NativeRuntime>(); }

}  // namespace skiff::runtime
