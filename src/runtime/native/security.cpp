#include "runtime/native/security.h"

#include <linux/capability.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <map>
#include <mutex>

namespace skiff::runtime {
namespace {

const std::map<std::string, int>& capabilityNumbers() {
  static const std::map<std::string, int> names{
      {"CHOWN", 0}, {"DAC_OVERRIDE", 1}, {"DAC_READ_SEARCH", 2}, {"FOWNER", 3}, {"FSETID", 4}, {"KILL", 5},
      {"SETGID", 6}, {"SETUID", 7}, {"SETPCAP", 8}, {"LINUX_IMMUTABLE", 9}, {"NET_BIND_SERVICE", 10},
      {"NET_BROADCAST", 11}, {"NET_ADMIN", 12}, {"NET_RAW", 13}, {"IPC_LOCK", 14}, {"IPC_OWNER", 15},
      {"SYS_MODULE", 16}, {"SYS_RAWIO", 17}, {"SYS_CHROOT", 18}, {"SYS_PTRACE", 19}, {"SYS_PACCT", 20},
      {"SYS_ADMIN", 21}, {"SYS_BOOT", 22}, {"SYS_NICE", 23}, {"SYS_RESOURCE", 24}, {"SYS_TIME", 25},
      {"SYS_TTY_CONFIG", 26}, {"MKNOD", 27}, {"LEASE", 28}, {"AUDIT_WRITE", 29}, {"AUDIT_CONTROL", 30},
      {"SETFCAP", 31}, {"MAC_OVERRIDE", 32}, {"MAC_ADMIN", 33}, {"SYSLOG", 34}, {"WAKE_ALARM", 35},
      {"BLOCK_SUSPEND", 36}, {"AUDIT_READ", 37}, {"PERFMON", 38}, {"BPF", 39}, {"CHECKPOINT_RESTORE", 40}};
  return names;
}

}  // namespace

int lastCapability() {
  static int last = [] {
    std::ifstream in("/proc/sys/kernel/cap_last_cap");
    int v = 40;
    in >> v;
    return v;
  }();
  return last;
}

uint64_t defaultCapabilities() {
  uint64_t mask = 0;
  for (const char* n : {"CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID", "SETFCAP",
                        "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE"})
    mask |= uint64_t(1) << capabilityNumbers().at(n);
  return mask;
}

Result<uint64_t> containerCapabilities(bool privileged, const std::vector<std::string>& add, const std::vector<std::string>& drop) {
  auto a = capabilityMask(add);
  if (!a) return a.error();
  auto d = capabilityMask(drop);
  if (!d) return d.error();
  return privileged ? ~uint64_t(0) : ((defaultCapabilities() | *a) & ~*d);
}

std::vector<std::string> capabilityNames(uint64_t mask) {
  std::vector<std::string> out;
  for (const auto& [name, bit] : capabilityNumbers())
    if (bit <= lastCapability() && (mask & (uint64_t(1) << bit))) out.push_back("CAP_" + name);
  return out;
}

Result<uint64_t> capabilityMask(const std::vector<std::string>& names) {
  uint64_t mask = 0;
  for (std::string n : names) {
    std::transform(n.begin(), n.end(), n.begin(), ::toupper);
    if (n.starts_with("CAP_")) n = n.substr(4);
    if (n == "ALL") {
      mask = ~uint64_t(0);
      continue;
    }
    auto it = capabilityNumbers().find(n);
    if (it == capabilityNumbers().end()) return Error::badRequest("unknown capability \"" + n + "\"");
    mask |= uint64_t(1) << it->second;
  }
  return mask;
}

const std::vector<std::string>& blockedSyscalls() {
  static const std::vector<std::string> names{"acct", "add_key", "bpf", "clock_adjtime", "clock_settime", "create_module", "delete_module", "finit_module",
          "get_kernel_syms", "get_mempolicy", "init_module", "ioperm", "iopl", "kcmp", "kexec_file_load", "kexec_load",
          "keyctl", "lookup_dcookie", "mbind", "mount", "mount_setattr", "move_mount", "move_pages", "name_to_handle_at",
          "nfsservctl", "open_by_handle_at", "open_tree", "fsopen", "fsconfig", "fsmount", "fspick", "perf_event_open",
          "pivot_root", "process_vm_readv", "process_vm_writev", "query_module", "quotactl", "reboot", "request_key",
          "set_mempolicy", "setns", "settimeofday", "stime", "swapoff", "swapon", "sysfs", "_sysctl", "umount", "umount2",
          "unshare", "uselib", "userfaultfd", "ustat", "vm86", "vm86old", "syslog"};
  return names;
}

const SeccompProgram& defaultSeccomp() {
  static SeccompProgram program;
  static std::once_flag once;
  std::call_once(once, [] {
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx) return;
    for (const auto& name : blockedSyscalls()) {
      int nr = seccomp_syscall_resolve_name(name.c_str());
      if (nr != __NR_SCMP_ERROR) seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
    }
    // Keep the program attached across a later setuid without needing no_new_privs.
    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
    int fd = memfd_create("seccomp", MFD_CLOEXEC);
    if (fd >= 0 && seccomp_export_bpf(ctx, fd) == 0) {
      off_t size = lseek(fd, 0, SEEK_END);
      program.instructions.resize(size_t(size) / sizeof(sock_filter));
      if (pread(fd, program.instructions.data(), size_t(size), 0) != size) program.instructions.clear();
    }
    if (fd >= 0) close(fd);
    seccomp_release(ctx);
  });
  return program;
}

}  // namespace skiff::runtime
