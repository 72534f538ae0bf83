#include "runtime/native/security.h"

#include <linux/capability.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

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

namespace {

// The system calls Docker's default profile allows to every container (moby
// profiles/seccomp/default.json, without io_uring, which moby and containerd dropped from it).
constexpr const char* kAlwaysAllowed =
    "accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown chown32 clock_adjtime clock_adjtime64 "
    "clock_getres clock_getres_time64 clock_gettime clock_gettime64 clock_nanosleep clock_nanosleep_time64 close close_range "
    "connect copy_file_range creat dup dup2 dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 "
    "epoll_wait epoll_wait_old eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64 fadvise64_64 "
    "fallocate fanotify_mark fchdir fchmod fchmodat fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr "
    "flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex "
    "futex_time64 futex_waitv futimesat getcpu getcwd getdents getdents64 getegid getegid32 geteuid geteuid32 getgid "
    "getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid "
    "getresgid32 getresuid getresuid32 getrlimit get_robust_list getrusage getsid getsockname getsockopt get_thread_area "
    "gettid gettimeofday getuid getuid32 getxattr inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel "
    "ioctl io_destroy io_getevents io_pgetevents io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit ipc kill "
    "landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link linkat listen listxattr "
    "llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise membarrier memfd_create memfd_secret mincore "
    "mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive "
    "mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock "
    "munlockall munmap name_to_handle_at nanosleep newfstatat _newselect open openat openat2 pause pidfd_open "
    "pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv preadv2 "
    "prlimit64 process_mrelease pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv "
    "recv recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages removexattr rename renameat renameat2 restart_syscall "
    "rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait "
    "rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam sched_get_priority_max "
    "sched_get_priority_min sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity "
    "sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop "
    "semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid "
    "setgid32 setgroups setgroups32 setitimer setpgid setpriority setregid setregid32 setresgid setresgid32 setresuid "
    "setresuid32 setreuid setreuid32 setrlimit set_robust_list setsid setsockopt set_thread_area set_tid_address setuid "
    "setuid32 setxattr shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 sigprocmask sigreturn socketcall "
    "socketpair splice stat stat64 statfs statfs64 statx symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill "
    "time timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime timer_settime64 "
    "timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill truncate truncate64 "
    "ugetrlimit umask uname unlink unlinkat utime utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid "
    "write writev process_vm_readv process_vm_writev ptrace arch_prctl modify_ldt";

// Calls a capability makes legitimate (the profile's "includes": {"caps": [...]}).
const std::vector<std::pair<const char*, const char*>>& allowedWithCapability() {
  static const std::vector<std::pair<const char*, const char*>> groups{
      {"DAC_READ_SEARCH", "open_by_handle_at"},
      {"SYS_ADMIN", "bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie mount mount_setattr move_mount "
                    "open_tree perf_event_open quotactl quotactl_fd setdomainname sethostname setns syslog umount umount2 unshare"},
      {"SYS_BOOT", "reboot"},
      {"SYS_CHROOT", "chroot"},
      {"SYS_MODULE", "delete_module init_module finit_module"},
      {"SYS_PACCT", "acct"},
      {"SYS_PTRACE", "kcmp pidfd_getfd process_madvise"},
      {"SYS_RAWIO", "iopl ioperm"},
      {"SYS_TIME", "settimeofday stime clock_settime clock_settime64"},
      {"SYS_TTY_CONFIG", "vhangup"},
      {"SYS_NICE", "get_mempolicy mbind set_mempolicy set_mempolicy_home_node"},
      {"SYSLOG", "syslog"},
      {"BPF", "bpf"},
      {"PERFMON", "perf_event_open"}};
  return groups;
}

void addNames(std::vector<SeccompRule>& rules, const char* names) {
  std::istringstream in(names);
  for (std::string name; in >> name;)
    if (std::none_of(rules.begin(), rules.end(), [&](const SeccompRule& r) { return r.name == name && !r.argument && !r.errnoRet; }))
      rules.push_back({name, 0, std::nullopt});
}

}  // namespace

std::vector<SeccompRule> defaultSeccompRules(uint64_t capabilities) {
  std::vector<SeccompRule> rules;
  addNames(rules, kAlwaysAllowed);
  auto has = [&](const char* cap) { return (capabilities >> capabilityNumbers().at(cap)) & 1; };
  for (const auto& [cap, names] : allowedWithCapability())
    if (has(cap)) addNames(rules, names);
  // AF_VSOCK (40) would reach the hypervisor's sockets.
  rules.push_back({"socket", 0, SeccompArgument{SeccompArgument::kNotEqual, 40, 0}});
  // PER_LINUX, UNAME26, PER_LINUX32, UNAME26|PER_LINUX32 and the query (0xffffffff); not
  // READ_IMPLIES_EXEC or ADDR_NO_RANDOMIZE.
  for (uint64_t persona : {0x0ull, 0x8ull, 0x20000ull, 0x20008ull, 0xffffffffull})
    rules.push_back({"personality", 0, SeccompArgument{SeccompArgument::kEqual, persona, 0}});
  if (!has("SYS_ADMIN")) {
    // CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET: none of them without CAP_SYS_ADMIN.
    rules.push_back({"clone", 0, SeccompArgument{SeccompArgument::kMaskedEqual, 0x7E020000, 0}});
    // clone3's flags sit in memory a filter cannot read: ENOSYS sends libcs back to clone.
    rules.push_back({"clone3", ENOSYS, std::nullopt});
  }
  return rules;
}

const SeccompProgram& defaultSeccomp(uint64_t capabilities) {
  static std::mutex mutex;
  static std::map<uint64_t, SeccompProgram> compiled;  // nodes never move: references stay valid
  std::lock_guard lock(mutex);
  if (auto it = compiled.find(capabilities); it != compiled.end()) return it->second;
  SeccompProgram& program = compiled[capabilities];
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
  if (!ctx) return program;
#if defined(__x86_64__)
  // 32-bit and x32 system calls go through the same rules instead of killing the process.
  seccomp_arch_add(ctx, SCMP_ARCH_X86);
  seccomp_arch_add(ctx, SCMP_ARCH_X32);
#endif
  // Keep the program attached across a later setuid without needing no_new_privs.
  seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
  seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);  // a binary tree: ~400 rules stay cheap per call
  for (const auto& rule : defaultSeccompRules(capabilities)) {
    int nr = seccomp_syscall_resolve_name(rule.name.c_str());
    if (nr == __NR_SCMP_ERROR) continue;  // unknown to this libseccomp: stays refused
    uint32_t action = rule.errnoRet ? SCMP_ACT_ERRNO(uint32_t(rule.errnoRet)) : SCMP_ACT_ALLOW;
    if (!rule.argument) {
      seccomp_rule_add(ctx, action, nr, 0);
      continue;
    }
    const SeccompArgument& a = *rule.argument;
    scmp_compare op = a.op == SeccompArgument::kEqual ? SCMP_CMP_EQ : a.op == SeccompArgument::kNotEqual ? SCMP_CMP_NE : SCMP_CMP_MASKED_EQ;
    seccomp_rule_add(ctx, action, nr, 1, scmp_arg_cmp{0, op, a.value, a.valueTwo});
  }
  int fd = memfd_create("seccomp", MFD_CLOEXEC);
  if (fd >= 0 && seccomp_export_bpf(ctx, fd) == 0) {
    off_t size = lseek(fd, 0, SEEK_END);
    program.instructions.resize(size_t(size) / sizeof(sock_filter));
    if (pread(fd, program.instructions.data(), size_t(size), 0) != size) program.instructions.clear();
  }
  if (fd >= 0) close(fd);
  seccomp_release(ctx);
  return program;
}

}  // namespace skiff::runtime
