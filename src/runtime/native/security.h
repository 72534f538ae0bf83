// The default confinement of a container, as Docker and containerd define it: the default
// capability set, and Docker's default seccomp profile: an allowlist (anything else fails with
// EPERM) whose extra entries depend on the container's capabilities (mount, unshare, setns and
// clone with namespace flags only with CAP_SYS_ADMIN, ptrace helpers with CAP_SYS_PTRACE, ...);
// clone3 fails with ENOSYS so libcs fall back to clone, whose flags the filter can see;
// personality only with the harmless values; no io_uring, no AF_VSOCK sockets. One rule list feeds
// both the BPF the native runtime installs (compiled once per capability set, so a freshly cloned
// child installs it without allocating) and runc's config.json.
#pragma once
#include <linux/filter.h>

#include <cstdint>
#include <optional>
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
// A condition on a system call's first argument (the only one the default profile looks at).
struct SeccompArgument {
  enum Op { kEqual, kNotEqual, kMaskedEqual } op = kEqual;
  uint64_t value = 0;     // kMaskedEqual: the mask
  uint64_t valueTwo = 0;  // kMaskedEqual: what the masked argument must equal
};
// The system call is allowed, or fails with `errnoRet` when that is set, if its argument passes.
struct SeccompRule {
  std::string name;
  int errnoRet = 0;
  std::optional<SeccompArgument> argument;
};
// Docker's default profile for a container holding `capabilities`; unlisted calls fail with EPERM.
std::vector<SeccompRule> defaultSeccompRules(uint64_t capabilities);
// Those rules as BPF for this machine's architectures (built once per capability set).
const SeccompProgram& defaultSeccomp(uint64_t capabilities);

}  // namespace skiff::runtime
