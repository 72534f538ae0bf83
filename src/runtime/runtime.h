// Container runtimes behind one interface: `process` (fork/exec on the host, no isolation),
// `native` (namespaces, cgroups, overlay rootfs, capabilities, seccomp) and `oci` (an OCI bundle
// run by runc). The agent only talks to this header.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "runtime/cgroups.h"

namespace skiff::runtime {

// A mount inside the container: a bind of a host path, or a fresh tmpfs.
struct MountSpec {
  std::string source;  // host path (bind); empty for tmpfs
  std::string target;  // absolute path inside the container
  bool readOnly = false;
  bool tmpfs = false;
  std::string tmpfsOptions;  // e.g. "size=64m"
};

struct SecuritySpec {
  bool privileged = false;
  std::string user;       // "uid", "uid:gid" or a name from the image's /etc/passwd; "" = image default/root
  int64_t runAsGroup = -1;
  std::vector<int64_t> supplementalGroups;
  bool readOnlyRootFilesystem = false;
  bool noNewPrivileges = true;  // false when allowPrivilegeEscalation is true
  std::vector<std::string> capAdd, capDrop;  // "NET_ADMIN" or "CAP_NET_ADMIN"; "ALL" drops all
};

struct ContainerSpec {
  std::string id;        // unique per pod, container and attempt
  std::string image;
  std::vector<std::string> command;  // entrypoint + args, already resolved
  std::vector<std::pair<std::string, std::string>> env;
  std::string workingDir;
  std::string logPath;   // stdout and stderr go here
  std::string cgroup;    // relative cgroup path (empty: none)
  ResourceLimits limits;
  // Isolating runtimes only:
  std::vector<std::string> rootfsLayers;  // unpacked image layers, lowest first
  std::string bundleDir;                  // this container's own directory (upper layer, state)
  std::string netnsPath;                  // pod network namespace to join ("" = the host's)
  // The node's namespaces (spec.hostNetwork, hostPID, hostIPC). hostNetwork shares the node's
  // UTS namespace too (its host name), and hostIPC its /dev/shm, as CRI runtimes do.
  bool hostNetwork = false, hostPID = false, hostIPC = false;
  std::string hostname;
  std::vector<MountSpec> mounts;
  SecuritySpec security;
};

struct ExitInfo {
  bool unknown = false;  // an adopted container ended while nobody could wait for it
  int exitCode = 0;
  int signal = 0;        // killed by this signal, 0 if it exited
  bool oomKilled = false;  // the kernel's OOM killer ended it (memory limit)
  std::string finishedAt;
};

class Container {
 public:
  virtual ~Container() = default;
  virtual int pid() const = 0;
  // Exit information once the container has stopped (non-blocking).
  virtual std::optional<ExitInfo> poll() = 0;
  // SIGTERM, then SIGKILL after `grace`; returns when the container has stopped.
  virtual ExitInfo stop(std::chrono::milliseconds grace) = 0;
  // Sends a signal to the container's processes without waiting (liveness kills, deferred stops).
  virtual void kill(int signal) = 0;
  // Usage from the container's cgroup, when it has one.
  virtual std::optional<CgroupStats> stats() const = 0;
};

struct ExecProcess {
  int pid = -1;
  int stdinFd = -1, stdoutFd = -1, stderrFd = -1;
};

// How an exec's output comes back: stdout and stderr apart, merged (probes), or through a
// terminal (kubectl exec -t: the caller holds the pty master as stdin and stdout).
enum class ExecStdio { kSeparate, kMerged, kTerminal };

// Pipes (or a pty) for an exec: what the child's stdio gets, and what the caller keeps.
struct ExecPipes {
  int childIn = -1, childOut = -1, childErr = -1;
  ExecProcess parent;
  bool terminal = false;
  static Result<ExecPipes> make(bool withStdin, ExecStdio stdio);
  void closeChildEnds();  // in the parent, after fork
  void closeAll();        // on failure
  // In the parent right after fork(): the caller's ends, or the fork's failure.
  Result<ExecProcess> afterFork(int pid);
};

struct ExecResult {
  int exitCode = -1;
  std::string output;
  bool timedOut = false;
};

// What a later agent needs to find a running container again (kept in the pod's directory).
struct ContainerRecord {
  std::string id;
  int pid = 0;
  uint64_t startTicks = 0;  // /proc/<pid>/stat start time: tells a reused pid from ours
  std::string bundleDir, cgroup;
};

class Runtime {
 public:
  virtual ~Runtime() = default;
  virtual std::string name() const = 0;
  virtual Result<std::unique_ptr<Container>> start(const ContainerSpec& spec) = 0;
  // Runs a command "inside" a running container (exec probes, skiff exec), bounded by `timeout`.
  ExecResult exec(const Container& container, const std::vector<std::string>& command, std::chrono::milliseconds timeout);
  // Starts a command inside a running container (skiff exec, kubectl exec) with pipes for its
  // stdin (when asked), stdout and stderr, or a terminal. The caller owns the fds and waits for
  // the pid, which is this process's child.
  virtual Result<ExecProcess> startExec(const Container& container, const std::vector<std::string>& command, bool withStdin,
                                        ExecStdio stdio) = 0;
  // Takes over a container an earlier agent started (skiff was killed or crashed) if that process
  // still runs; it is not our child, so its exit code will be unknown.
  virtual Result<std::unique_ptr<Container>> adopt(const ContainerRecord& record) = 0;
};

// The kernel's start time of a process (0 if it is gone or a zombie).
uint64_t processStartTicks(int pid);
// An adopted container: signals by pid/process group, watches /proc for its end.
std::unique_ptr<Container> makeAdoptedContainer(const ContainerRecord& record, std::function<void()> cleanup);

std::unique_ptr<Runtime> makeProcessRuntime();
// Needs root: namespaces, overlayfs, pivot_root, seccomp.
std::unique_ptr<Runtime> makeNativeRuntime();
// Drives `runc` with a standard OCI bundle; `stateDir` is runc's --root.
std::unique_ptr<Runtime> makeOciRuntime(std::string stateDir);

// Shared by the runtimes: a container that is a child process of this one (its own session, so
// signals reach the whole group), with an optional cgroup and a clean-up run once it is gone.
std::unique_ptr<Container> makeChildContainer(int pid, std::unique_ptr<Cgroup> cgroup, std::function<void()> cleanup = {});
// Right before exec in a forked child: every fd from 3 up becomes close-on-exec, so a container
// (or runc) keeps only its stdio and never skiff's sockets, store or logs, whatever flags they
// were opened with. close_range(CLOSE_RANGE_CLOEXEC), or a loop over the fd limit where the kernel
// lacks it. Async-signal-safe: no allocation.
void closeFdsOnExec();
// Waits for `pid` (a child) with a deadline, collecting what it writes to `outFd` (closed after).
ExecResult collectChild(int pid, int outFd, std::chrono::milliseconds timeout);

}  // namespace skiff::runtime
