// The default confinement of a container, as Docker and containerd define it: the default
// capability set, and a seccomp filter refusing (EPERM) the system calls a container has no
// business making (kernel modules, kexec, reboot, clock changes, keyrings, bpf, ptrace of other
// processes' memory, new user namespaces...). The filter is compiled once, as BPF, so a freshly
// cloned child can install it without allocating.
#pragma once
#include <linux/filter.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace skiff::runtime {

// Capability numbers from names ("NET_ADMIN", "CAP_NET_ADMIN", "ALL").
Result<uint64_t> capabilityMask(const std::vector<std::string>& names);
uint64_t defaultCapabilities();
// The set a container gets: all when privileged, else the default set plus add minus drop.
Result<uint64_t> containerCapabilities(bool privileged, const std::vector<std::string>& add, const std::vector<std::string>& drop);
// "CAP_CHOWN", ... for the bits of a mask (OCI config form).
std::vector<std::string> capabilityNames(uint64_t mask);
int lastCapability();

struct SeccompProgram {
  std::vector<sock_filter> instructions;
  sock_fprog program() { return sock_fprog{uint16_t(instructions.size()), instructions.data()}; }
};
// System calls the default profile refuses with EPERM (for runc's config.json too).
const std::vector<std::string>& blockedSyscalls();
// The default filter (built once per process).
const SeccompProgram& defaultSeccomp();

}  // namespace skiff::runtime
