// The `oci` runtime: the same container description written as a standard OCI runtime bundle
// (config.json + an overlay rootfs) and run by `runc run --detach`. skiff is a child subreaper,
// so once runc exits the container's init is skiff's child and is waited for like any other.
// runc's own errors go to a log file in the bundle and come back as the start error.
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include "runtime/native/rootfs.h"
#include "runtime/native/security.h"
#include "runtime/runtime.h"

namespace skiff::runtime {
namespace json = boost::json;
namespace fs = std::filesystem;
namespace {

// Runs a command to completion with stdout/stderr to `outFd` (or /dev/null); returns its status.
int runTool(const std::vector<std::string>& argv, int outFd) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    umask(022);  // runc makes mount points with it (skiff's own is 077)
    int devnull = open("/dev/null", O_RDWR);
    dup2(devnull, 0);
    dup2(outFd >= 0 ? outFd : devnull, 1);
    dup2(outFd >= 0 ? outFd : devnull, 2);
    closeFdsOnExec();
    execvp(args[0], args.data());
    _exit(127);
  }
  if (pid < 0) return -1;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// runc's JSON log: the last error message in it.
std::string runcError(const std::string& logPath) {
  std::ifstream in(logPath);
  std::string last;
  for (std::string line; std::getline(in, line);) {
    boost::system::error_code ec;
    json::value v = json::parse(line, ec);
    if (!ec && v.is_object())
      if (auto* msg = v.get_object().if_contains("msg"); msg && msg->is_string()) last = std::string(msg->get_string());
  }
  return last.empty() ? "runc failed (see " + logPath + ")" : last;
}

// The default profile (security.h) in config.json's form; runc compiles it with libseccomp.
json::object ociSeccomp(uint64_t capabilities) {
  json::array plain, syscalls;
  for (const auto& rule : defaultSeccompRules(capabilities)) {
    if (!rule.argument && !rule.errnoRet) {
      plain.push_back(json::string(rule.name));
      continue;
    }
    json::object entry{{"names", json::array{json::string(rule.name)}}, {"action", rule.errnoRet ? "SCMP_ACT_ERRNO" : "SCMP_ACT_ALLOW"}};
    if (rule.errnoRet) entry["errnoRet"] = rule.errnoRet;
    if (const auto& a = rule.argument) {
      const char* op = a->op == SeccompArgument::kEqual ? "SCMP_CMP_EQ" : a->op == SeccompArgument::kNotEqual ? "SCMP_CMP_NE" : "SCMP_CMP_MASKED_EQ";
      entry["args"] = json::array{json::object{{"index", 0}, {"value", a->value}, {"valueTwo", a->valueTwo}, {"op", op}}};
    }
    syscalls.push_back(std::move(entry));
  }
  syscalls.insert(syscalls.begin(), json::object{{"names", std::move(plain)}, {"action", "SCMP_ACT_ALLOW"}});
  return json::object{{"defaultAction", "SCMP_ACT_ERRNO"},
                      {"defaultErrnoRet", 1},
                      {"architectures", json::array{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}},
                      {"syscalls", std::move(syscalls)}};
}

// linux.resources.devices: deny everything, then the default set (cgroups.h), as containerd
// writes it; runc enforces it in the container's devices cgroup (or eBPF program on cgroup v2).
json::array ociDeviceRules(bool privileged) {
  if (privileged) return json::array{json::object{{"allow", true}, {"access", "rwm"}}};
  json::array rules{json::object{{"allow", false}, {"access", "rwm"}}};
  for (const auto& d : defaultDeviceRules()) {
    json::object rule{{"allow", true}, {"type", std::string(1, d.type)}, {"access", d.access}};
    if (d.major >= 0) rule["major"] = d.major;
    if (d.minor >= 0) rule["minor"] = d.minor;
    rules.push_back(std::move(rule));
  }
  return rules;
}

class OciRuntime final : public Runtime {
 public:
  explicit OciRuntime(std::string stateDir) : stateDir_(std::move(stateDir)) {
    // Orphaned container inits (runc exits after starting them) become our children.
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    std::error_code ec;
    fs::create_directories(stateDir_, ec);
  }
  std::string name() const override { return "oci"; }

  Result<std::unique_ptr<Container>> start(const ContainerSpec& spec) override {
    if (spec.bundleDir.empty()) return Error::internal("no container directory given");
    if (Status s = mountOverlayRoot(spec.rootfsLayers, spec.bundleDir, spec.image, !spec.security.privileged); !s) return s.error();
    std::string bundle = spec.bundleDir, id = spec.id, state = stateDir_;
    auto cleanup = [bundle, id, state] {
      runTool({"runc", "--root", state, "delete", "--force", id}, -1);
      removeOverlayRoot(bundle);
    };
    auto started = create(spec);
    if (!started) {
      cleanup();
      return started.error();
    }
    return makeChildContainer(started->first, std::move(started->second), cleanup);
  }

  Result<ExecProcess> startExec(const Container& container, const std::vector<std::string>& command, bool withStdin,
                                ExecStdio stdio) override {
    std::string id;
    {
      std::lock_guard lock(idsMutex_);
      auto it = ids_.find(container.pid());
      if (it == ids_.end()) return Error::conflict("container is not running");
      id = it->second;
    }
    if (command.empty()) return Error::badRequest("no command to run");
    auto pipes = ExecPipes::make(withStdin, stdio);
    if (!pipes) return pipes.error();
    std::vector<std::string> argv{"runc", "--root", stateDir_, "exec", id};
    argv.insert(argv.end(), command.begin(), command.end());
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    int in = pipes->childIn, out = pipes->childOut, err = pipes->childErr;
    pid_t pid = fork();
    if (pid == 0) {
      setsid();
      umask(022);
      int devnull = open("/dev/null", O_RDONLY);
      dup2(in >= 0 ? in : devnull, 0);
      dup2(out, 1);
      dup2(err, 2);
      closeFdsOnExec();
      execvp(args[0], args.data());
      _exit(127);
    }
    return pipes->afterFork(pid);
  }

  Result<std::unique_ptr<Container>> adopt(const ContainerRecord& record) override {
    std::string bundle = record.bundleDir, id = record.id, state = stateDir_;
    auto cleanup = [bundle, id, state] {
      runTool({"runc", "--root", state, "delete", "--force", id}, -1);
      removeOverlayRoot(bundle);
    };
    if (record.pid <= 0 || processStartTicks(record.pid) != record.startTicks) return Error::notFound("container " + record.id + " is gone");
    std::lock_guard lock(idsMutex_);
    ids_[record.pid] = record.id;
    return makeAdoptedContainer(record, cleanup);
  }

 private:
  Result<std::pair<int, std::unique_ptr<Cgroup>>> create(const ContainerSpec& spec) {
    std::string root = spec.bundleDir + "/rootfs";
    auto user = resolveUser(root, spec.security.user);
    if (!user) return user.error();
    if (spec.command.empty()) return Error::badRequest("no command specified: the image has no entrypoint or cmd and the pod sets none");
    std::string pathVariable;
    for (const auto& [k, v] : spec.env)
      if (k == "PATH") pathVariable = v;
    if (auto exe = findExecutable(root, spec.command[0], pathVariable); !exe) return exe.error();
    bool privileged = spec.security.privileged;
    auto capsOr = containerCapabilities(privileged, spec.security.capAdd, spec.security.capDrop);
    if (!capsOr) return capsOr.error();
    uint64_t caps = *capsOr;
    json::array capNames;
    for (const auto& n : capabilityNames(caps)) capNames.push_back(json::string(n));

    std::unique_ptr<Cgroup> cgroup;
    if (!spec.cgroup.empty()) {
      auto cg = Cgroup::create(spec.cgroup, spec.limits);
      if (!cg) return cg.error();
      cgroup = std::move(*cg);
    }
    json::array args, env, groups;
    for (const auto& a : spec.command) args.push_back(json::string(a));
    for (const auto& [k, v] : spec.env) env.push_back(json::string(k + "=" + v));
    if (std::none_of(spec.env.begin(), spec.env.end(), [](auto& kv) { return kv.first == "HOME"; })) env.push_back(json::string("HOME=" + user->home));
    for (auto g : user->groups) groups.push_back(g);
    for (auto g : spec.security.supplementalGroups) groups.push_back(g);
    json::object process{{"terminal", false},
                         {"user", json::object{{"uid", user->uid},
                                               {"gid", spec.security.runAsGroup >= 0 ? uint32_t(spec.security.runAsGroup) : user->gid},
                                               {"additionalGids", groups}}},
                         {"args", args},
                         {"env", env},
                         {"cwd", spec.workingDir.empty() ? "/" : spec.workingDir},
                         {"capabilities", json::object{{"bounding", capNames}, {"effective", capNames}, {"permitted", capNames}}},
                         {"noNewPrivileges", spec.security.noNewPrivileges && !privileged}};
    json::array mounts{
        json::object{{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}},
        json::object{{"destination", "/dev"}, {"type", "tmpfs"}, {"source", "tmpfs"}, {"options", json::array{"nosuid", "strictatime", "mode=755", "size=65536k"}}},
        json::object{{"destination", "/dev/pts"}, {"type", "devpts"}, {"source", "devpts"},
                     {"options", json::array{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}}},
        spec.hostIPC ? json::object{{"destination", "/dev/shm"}, {"type", "bind"}, {"source", "/dev/shm"}, {"options", json::array{"rbind", "rw"}}}
                     : json::object{{"destination", "/dev/shm"}, {"type", "tmpfs"}, {"source", "shm"}, {"options", json::array{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}},
        json::object{{"destination", "/dev/mqueue"}, {"type", "mqueue"}, {"source", "mqueue"}, {"options", json::array{"nosuid", "noexec", "nodev"}}},
        json::object{{"destination", "/sys"}, {"type", "sysfs"}, {"source", "sysfs"}, {"options", json::array{"nosuid", "noexec", "nodev", "ro"}}}};
    for (const auto& m : spec.mounts) {
      if (m.tmpfs) {
        json::array opts{"nosuid", "nodev"};
        if (!m.tmpfsOptions.empty()) opts.push_back(json::string(m.tmpfsOptions));
        mounts.push_back(json::object{{"destination", m.target}, {"type", "tmpfs"}, {"source", "tmpfs"}, {"options", opts}});
      } else {
        mounts.push_back(json::object{{"destination", m.target}, {"type", "bind"}, {"source", m.source},
                                      {"options", privileged ? json::array{"rbind", m.readOnly ? "ro" : "rw"}
                                                             : json::array{"rbind", m.readOnly ? "ro" : "rw", "nodev"}}});
      }
    }
    // A namespace left out of the list is the node's (hostPID, hostIPC, hostNetwork with its UTS).
    json::array namespaces{json::object{{"type", "mount"}}};
    if (!spec.hostPID) namespaces.push_back(json::object{{"type", "pid"}});
    if (!spec.hostIPC) namespaces.push_back(json::object{{"type", "ipc"}});
    if (!spec.hostNetwork) {
      namespaces.push_back(json::object{{"type", "uts"}});
      namespaces.push_back(spec.netnsPath.empty() ? json::object{{"type", "network"}} : json::object{{"type", "network"}, {"path", spec.netnsPath}});
    }
    json::object resources;
    if (spec.limits.memoryBytes > 0) resources["memory"] = json::object{{"limit", spec.limits.memoryBytes}};
    if (spec.limits.cpuMillis > 0) resources["cpu"] = json::object{{"quota", spec.limits.cpuMillis * 100}, {"period", 100000}};
    if (spec.limits.pids > 0) resources["pids"] = json::object{{"limit", spec.limits.pids}};
    resources["devices"] = ociDeviceRules(privileged);
    json::object linuxSection{{"namespaces", namespaces}, {"resources", resources}};
    if (cgroup && cgroup->available()) linuxSection["cgroupsPath"] = cgroup->hierarchyPath();
    if (!privileged) {
      linuxSection["maskedPaths"] = json::array{"/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/sys/firmware"};
      linuxSection["readonlyPaths"] = json::array{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};
      linuxSection["seccomp"] = ociSeccomp(caps);
    }
    json::object config{{"ociVersion", "1.0.2"},
                        {"process", process},
                        {"root", json::object{{"path", "rootfs"}, {"readonly", spec.security.readOnlyRootFilesystem}}},
                        {"mounts", mounts},
                        {"linux", linuxSection}};
    if (!spec.hostNetwork) config["hostname"] = spec.hostname.empty() ? spec.id.substr(0, 63) : spec.hostname;
    {
      std::ofstream out(spec.bundleDir + "/config.json");
      out << json::serialize(config);
      if (!out) return Error::internal("cannot write " + spec.bundleDir + "/config.json");
    }
    int logFd = open(spec.logPath.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (logFd < 0) return Error::internal("cannot open log " + spec.logPath + ": " + std::strerror(errno));
    std::string pidFile = spec.bundleDir + "/pid", runcLog = spec.bundleDir + "/runc.log";
    int rc = runTool({"runc", "--root", stateDir_, "--log", runcLog, "--log-format", "json", "run", "--detach", "--pid-file", pidFile,
                      "--bundle", spec.bundleDir, spec.id},
                     logFd);
    close(logFd);
    if (rc == 127) return Error::unavailable("the oci runtime needs runc on PATH (apt-get install runc)");
    if (rc != 0) return Error::badRequest(runcError(runcLog));
    std::ifstream pidIn(pidFile);
    int pid = 0;
    pidIn >> pid;
    if (pid <= 0) return Error::internal("runc started " + spec.id + " but wrote no pid");
    std::lock_guard lock(idsMutex_);
    ids_[pid] = spec.id;
    return std::make_pair(pid, std::move(cgroup));
  }

  std::string stateDir_;
  std::mutex idsMutex_;               // starts on the agent's thread, execs on API threads
  std::map<int, std::string> ids_;  // container init pid -> runc id (for exec)
};

}  // namespace

std::unique_ptr<Runtime> makeOciRuntime(std::string stateDir) { return std::make_unique<OciRuntime>(std::move(stateDir)); }

}  // namespace skiff::runtime
