#include "runtime/cgroups.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "runtime/device_filter.h"

namespace skiff::runtime {
namespace fs = std::filesystem;
namespace {

struct Layout {
  std::map<std::string, std::string> v1;  // controller -> mount point
  std::string v2Mount;
  std::vector<std::string> v2Controllers;
  std::map<std::string, std::string> selfPath;  // controller ("" for v2) -> our cgroup path
};

const Layout& layout() {
  static const Layout l = [] {
    Layout out;
    std::ifstream mounts("/proc/self/mounts");
    std::string dev, dir, type, opts, rest;
    while (mounts >> dev >> dir >> type >> opts) {
      std::getline(mounts, rest);
      if (type == "cgroup2") out.v2Mount = dir;
      if (type != "cgroup") continue;
      std::stringstream ss(opts);
      for (std::string o; std::getline(ss, o, ',');)
        if (o == "memory" || o == "cpu" || o == "cpuacct" || o == "pids" || o == "devices") out.v1[o] = dir;
    }
    if (!out.v2Mount.empty()) {
      std::ifstream c(out.v2Mount + "/cgroup.controllers");
      for (std::string x; c >> x;) out.v2Controllers.push_back(x);
    }
    std::ifstream self("/proc/self/cgroup");
    for (std::string line; std::getline(self, line);) {
      auto a = line.find(':'), b = line.find(':', a + 1);
      if (a == std::string::npos || b == std::string::npos) continue;
      std::string ctrls = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
      if (ctrls.empty()) out.selfPath[""] = path;
      std::stringstream ss(ctrls);
      for (std::string c; std::getline(ss, c, ',');) out.selfPath[c] = path;
    }
    return out;
  }();
  return l;
}

bool writeFile(const std::string& path, const std::string& value) {
  std::ofstream f(path);
  f << value;
  f.flush();
  return bool(f);
}

uint64_t readNumber(const std::string& path) {
  std::ifstream f(path);
  uint64_t v = 0;
  f >> v;
  return v;
}

uint64_t readKey(const std::string& path, const std::string& key) {
  std::ifstream f(path);
  std::string k;
  uint64_t v;
  while (f >> k >> v)
    if (k == key) return v;
  return 0;
}

bool hasV2(const std::string& controller) {
  const auto& c = layout().v2Controllers;
  return std::find(c.begin(), c.end(), controller) != c.end();
}

}  // namespace

bool cgroupsUsable() {
  if (geteuid() != 0) return false;
  const Layout& l = layout();
  return l.v1.count("memory") || hasV2("memory");
}

Result<std::unique_ptr<Cgroup>> Cgroup::create(const std::string& relative, const ResourceLimits& limits) {
  auto cg = std::unique_ptr<Cgroup>(new Cgroup());
  if (!cgroupsUsable()) return cg;  // no cgroups here: processes run without limits
  const Layout& l = layout();
  auto pathIn = [&](const std::string& controller) {
    std::string parent = l.selfPath.count(controller) ? l.selfPath.at(controller) : "/";
    return (parent == "/" ? "" : parent) + "/skiff/" + relative;
  };
  auto makeDir = [&](const std::string& mount, const std::string& controller) -> Result<std::string> {
    std::string dir = mount + pathIn(controller);
    if (cg->hierarchyPath_.empty()) cg->hierarchyPath_ = pathIn(controller);
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return Error::internal("cannot create cgroup " + dir + ": " + ec.message());
    if (std::find(cg->dirs_.begin(), cg->dirs_.end(), dir) == cg->dirs_.end()) {
      cg->dirs_.push_back(dir);
      cg->procsFiles_.push_back(dir + "/cgroup.procs");
    }
    return dir;
  };
  // Memory.
  if (hasV2("memory")) {
    auto d = makeDir(l.v2Mount, "");
    if (!d) return d.error();
    cg->memoryDir_ = *d;
    cg->v2Memory_ = true;
    if (limits.memoryBytes > 0 && !writeFile(*d + "/memory.max", std::to_string(limits.memoryBytes)))
      return Error::internal("cannot set memory.max on " + *d);
  } else if (l.v1.count("memory")) {
    auto d = makeDir(l.v1.at("memory"), "memory");
    if (!d) return d.error();
    cg->memoryDir_ = *d;
    if (limits.memoryBytes > 0 && !writeFile(*d + "/memory.limit_in_bytes", std::to_string(limits.memoryBytes)))
      return Error::badRequest("cannot set a memory limit of " + std::to_string(limits.memoryBytes) + " bytes on " + *d);
  }
  // CPU quota and accounting.
  if (hasV2("cpu")) {
    auto d = makeDir(l.v2Mount, "");
    if (!d) return d.error();
    cg->cpuacctDir_ = *d;
    cg->v2Cpu_ = true;
    if (limits.cpuMillis > 0) writeFile(*d + "/cpu.max", std::to_string(limits.cpuMillis * 100) + " 100000");
  } else {
    if (l.v1.count("cpu")) {
      auto d = makeDir(l.v1.at("cpu"), "cpu");
      if (!d) return d.error();
      if (limits.cpuMillis > 0) {
        writeFile(*d + "/cpu.cfs_period_us", "100000");
        writeFile(*d + "/cpu.cfs_quota_us", std::to_string(std::max<int64_t>(1000, limits.cpuMillis * 100)));
      }
    }
    if (l.v1.count("cpuacct")) {
      auto d = makeDir(l.v1.at("cpuacct"), "cpuacct");
      if (!d) return d.error();
      cg->cpuacctDir_ = *d;
    }
  }
  // Pids.
  if (hasV2("pids") || l.v1.count("pids")) {
    auto d = hasV2("pids") ? makeDir(l.v2Mount, "") : makeDir(l.v1.at("pids"), "pids");
    if (!d) return d.error();
    cg->pidsDir_ = *d;
    if (limits.pids > 0) writeFile(*d + "/pids.max", std::to_string(limits.pids));
  }
  // Devices. Where a v1 devices controller exists (v1, or this host's hybrid) it confines the
  // group, as runc does there; on a v2-only host runc's eBPF filter on the v2 group does.
  if (limits.defaultDevicesOnly) {
    if (l.v1.count("devices")) {
      auto d = makeDir(l.v1.at("devices"), "devices");
      if (!d) return d.error();
      if (Status s = cg->restrictDevices(*d); !s) return s.error();
    } else if (!l.v2Mount.empty()) {
      auto d = makeDir(l.v2Mount, "");
      if (!d) return d.error();
      if (Status s = attachDeviceFilter(*d, defaultDeviceRules()); !s) return s.error();
    } else {
      return Error::unavailable("this host has neither a cgroup v1 devices controller nor a cgroup2 mount, so skiff's native runtime cannot confine device access (mount cgroup2, or use --runtime oci)");
    }
  } else if (l.v1.count("devices")) {
    // A container adopted after a restart: its devices group (and rules) exist already; own it
    // so it is removed with the others, without touching its rules.
    std::string dir = l.v1.at("devices") + pathIn("devices");
    if (fs::is_directory(dir)) {
      cg->dirs_.push_back(dir);
      cg->procsFiles_.push_back(dir + "/cgroup.procs");
    }
  }
  // Block IO accounting (no limits: Kubernetes sets none).
  if (hasV2("io")) {
    auto d = makeDir(l.v2Mount, "");
    if (!d) return d.error();
    cg->ioDir_ = *d;
    cg->v2Io_ = true;
  } else if (l.v1.count("blkio")) {
    auto d = makeDir(l.v1.at("blkio"), "blkio");
    if (!d) return d.error();
    cg->ioDir_ = *d;
  }
  return cg;
}

const std::vector<DeviceRule>& defaultDeviceRules() {
  static const std::vector<DeviceRule> rules{
      {'c', -1, -1, "m"},   {'b', -1, -1, "m"},                                                // mknod of anything
      {'c', 1, 3, "rwm"},   {'c', 1, 5, "rwm"},   {'c', 1, 7, "rwm"}, {'c', 1, 8, "rwm"},      // null zero full random
      {'c', 1, 9, "rwm"},   {'c', 5, 0, "rwm"},   {'c', 5, 1, "rwm"}, {'c', 5, 2, "rwm"},      // urandom tty console ptmx
      {'c', 136, -1, "rwm"}, {'c', 10, 200, "rwm"}};                                           // pts, tun
  return rules;
}

std::string deviceRuleLine(const DeviceRule& rule) {
  auto number = [](int64_t n) { return n < 0 ? std::string("*") : std::to_string(n); };
  return std::string(1, rule.type) + " " + number(rule.major) + ":" + number(rule.minor) + " " + rule.access;
}

// A fresh v1 group inherits its parent's "a *:* rwm": deny everything, then allow the defaults.
Status Cgroup::restrictDevices(const std::string& dir) {
  if (!writeFile(dir + "/devices.deny", "a")) return Error::internal("cannot deny devices in " + dir + ": " + std::strerror(errno));
  for (const auto& rule : defaultDeviceRules())
    if (!writeFile(dir + "/devices.allow", deviceRuleLine(rule)))
      return Error::internal("cannot allow " + deviceRuleLine(rule) + " in " + dir + ": " + std::strerror(errno));
  return {};
}

Cgroup::~Cgroup() {
  for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) {
    // Processes may take a moment to leave after SIGKILL.
    for (int i = 0; i < 50 && ::rmdir(it->c_str()) != 0 && errno == EBUSY; ++i) usleep(10000);
  }
}

CgroupStats Cgroup::stats() const {
  CgroupStats s;
  if (!cpuacctDir_.empty())
    s.cpuUsageNanos = v2Cpu_ ? readKey(cpuacctDir_ + "/cpu.stat", "usage_usec") * 1000 : readNumber(cpuacctDir_ + "/cpuacct.usage");
  if (!memoryDir_.empty()) {
    if (v2Memory_) {
      s.memoryUsageBytes = readNumber(memoryDir_ + "/memory.current");
      uint64_t inactive = readKey(memoryDir_ + "/memory.stat", "inactive_file");
      s.memoryWorkingSetBytes = s.memoryUsageBytes > inactive ? s.memoryUsageBytes - inactive : 0;
      s.oomKills = readKey(memoryDir_ + "/memory.events", "oom_kill");
    } else {
      s.memoryUsageBytes = readNumber(memoryDir_ + "/memory.usage_in_bytes");
      uint64_t inactive = readKey(memoryDir_ + "/memory.stat", "total_inactive_file");
      s.memoryWorkingSetBytes = s.memoryUsageBytes > inactive ? s.memoryUsageBytes - inactive : 0;
      s.oomKills = readKey(memoryDir_ + "/memory.oom_control", "oom_kill");
    }
  }
  if (!pidsDir_.empty()) s.pids = readNumber(pidsDir_ + "/pids.current");
  if (!ioDir_.empty()) {
    std::ifstream f(ioDir_ + (v2Io_ ? "/io.stat" : "/blkio.throttle.io_service_bytes"));
    std::string line;
    while (std::getline(f, line)) {
      std::istringstream in(line);
      std::string device, field;
      in >> device;
      if (v2Io_) {  // "8:0 rbytes=1 wbytes=2 rios=3 ..."
        while (in >> field) {
          if (field.rfind("rbytes=", 0) == 0) s.ioReadBytes += std::strtoull(field.c_str() + 7, nullptr, 10);
          if (field.rfind("wbytes=", 0) == 0) s.ioWriteBytes += std::strtoull(field.c_str() + 7, nullptr, 10);
        }
      } else {  // "8:0 Read 4096"
        uint64_t v = 0;
        if (in >> field >> v) {
          if (field == "Read") s.ioReadBytes += v;
          if (field == "Write") s.ioWriteBytes += v;
        }
      }
    }
  }
  return s;
}

}  // namespace skiff::runtime
