// Container cgroups on cgroup v1 (one hierarchy per controller), cgroup v2 (unified), or the
// hybrid this host has (v1 controllers beside an empty cgroup2 mount): for memory, cpu,
// cpuacct, pids and devices each controller is found where it is actually enabled. New groups
// nest under the agent's own group, so containers stay inside any limits the agent itself runs
// under.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace skiff::runtime {

struct ResourceLimits {
  int64_t memoryBytes = 0;  // 0 = unlimited
  int64_t cpuMillis = 0;    // CFS quota per 100 ms period
  int64_t pids = 0;
  // Only defaultDeviceRules() for the container (the isolating runtimes, unless privileged):
  // its own v1 devices group where the controller exists, else an eBPF device filter on its v2
  // group (runtime/device_filter.h). Off: the agent's own device access.
  bool defaultDevicesOnly = false;
};

// One device-cgroup allow rule: type 'c' or 'b', -1 for any major or minor, access from "rwm".
struct DeviceRule {
  char type;
  int64_t major, minor;
  const char* access;
};
// What runc and containerd allow a container: creating any node (mknod), but opening only
// null, zero, full, random, urandom, tty, console, ptmx, its pseudo-terminals and tun.
const std::vector<DeviceRule>& defaultDeviceRules();
// "c 1:3 rwm", as devices.allow reads it.
std::string deviceRuleLine(const DeviceRule& rule);

struct CgroupStats {
  uint64_t cpuUsageNanos = 0;
  uint64_t memoryUsageBytes = 0;
  uint64_t memoryWorkingSetBytes = 0;  // usage minus inactive file cache, as cAdvisor reports
  uint64_t oomKills = 0;
  uint64_t pids = 0;
  uint64_t ioReadBytes = 0, ioWriteBytes = 0;  // block IO (v1 blkio throttle counters or v2 io.stat)
};

class Cgroup {
 public:
  // Creates skiff/<relative> in every available hierarchy and applies the limits.
  static Result<std::unique_ptr<Cgroup>> create(const std::string& relative, const ResourceLimits& limits);
  ~Cgroup();  // removes the groups (their processes must be gone)
  // The cgroup.procs files a new process writes its pid to before exec.
  const std::vector<std::string>& procsFiles() const { return procsFiles_; }
  CgroupStats stats() const;
  bool available() const { return !dirs_.empty(); }
  // The group's path inside each hierarchy ("/.../skiff/<relative>"), as an OCI cgroupsPath.
  const std::string& hierarchyPath() const { return hierarchyPath_; }

 private:
  std::vector<std::string> dirs_;
  std::vector<std::string> procsFiles_;
  std::string memoryDir_, cpuacctDir_, pidsDir_, ioDir_;
  Status restrictDevices(const std::string& dir);
  bool v2Io_ = false;
  std::string hierarchyPath_;
  bool v2Memory_ = false, v2Cpu_ = false;
};

// Whether this host lets skiff create cgroups (root, a writable hierarchy).
bool cgroupsUsable();

}  // namespace skiff::runtime
