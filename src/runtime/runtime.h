// Container runtimes behind one interface: `process` now (fork/exec on the host, no isolation),
// `native` (namespaces, cgroups, overlay rootfs) and `oci` (runc) later. The agent only talks to
// this header.
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "runtime/cgroups.h"

namespace skiff::runtime {

struct ContainerSpec {
  std::string id;        // unique per pod, container and attempt
  std::string image;
  std::vector<std::string> command;  // entrypoint + args, already resolved
  std::vector<std::pair<std::string, std::string>> env;
  std::string workingDir;
  std::string logPath;   // stdout and stderr go here
  std::string cgroup;    // relative cgroup path (empty: none)
  ResourceLimits limits;
};

struct ExitInfo {
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

struct ExecResult {
  int exitCode = -1;
  std::string output;
  bool timedOut = false;
};

class Runtime {
 public:
  virtual ~Runtime() = default;
  virtual std::string name() const = 0;
  virtual Result<std::unique_ptr<Container>> start(const ContainerSpec& spec) = 0;
  // Runs a command "inside" a running container (exec probes, skiff exec), bounded by `timeout`.
  virtual ExecResult exec(const Container& container, const std::vector<std::string>& command,
                          std::chrono::milliseconds timeout) = 0;
};

std::unique_ptr<Runtime> makeProcessRuntime();

}  // namespace skiff::runtime
