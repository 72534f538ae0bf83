// Device confinement for cgroup v2, which has no devices controller: as runc does, an eBPF
// program of type BPF_PROG_TYPE_CGROUP_DEVICE attached to the container's group decides every
// open and mknod of a device node by the group's processes. The program is assembled here from
// the same allow list the v1 devices controller gets (no libbpf, no compiler at run time).
#pragma once
#include <linux/bpf.h>

#include <string>
#include <vector>

#include "common/result.h"
#include "runtime/cgroups.h"

namespace skiff::runtime {

// The program's instructions: allow (1) when a rule matches the device's type, major, minor
// and covers every access asked for (mknod, read, write), otherwise deny (0).
std::vector<bpf_insn> deviceFilterProgram(const std::vector<DeviceRule>& rules);

// Loads the program for `rules` and attaches it to the cgroup v2 directory `cgroupDir`. The
// attachment lives as long as the group (the kernel holds the program); nothing to undo.
Status attachDeviceFilter(const std::string& cgroupDir, const std::vector<DeviceRule>& rules);

}  // namespace skiff::runtime
