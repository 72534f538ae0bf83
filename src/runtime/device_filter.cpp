#include "runtime/device_filter.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace skiff::runtime {
namespace {

// Registers of the program: the context pointer arrives in r1; the fields are copied out first
// so r1 can serve as scratch.
constexpr uint8_t kCtx = 1, kScratch = 1, kType = 2, kAccess = 3, kMajor = 4, kMinor = 5;

bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn i{};
  i.code = code;
  i.dst_reg = dst & 0xf;
  i.src_reg = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}
bpf_insn loadU32(uint8_t dst, int16_t offset) { return insn(BPF_LDX | BPF_MEM | BPF_W, dst, kCtx, offset, 0); }
bpf_insn alu32(uint8_t op, uint8_t dst, int32_t imm) { return insn(BPF_ALU | op | BPF_K, dst, 0, 0, imm); }
bpf_insn mov64(uint8_t dst, uint8_t src) { return insn(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0); }
bpf_insn movImm(uint8_t dst, int32_t imm) { return insn(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm); }
bpf_insn exitInsn() { return insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0); }

int accessBits(const char* access) {
  int bits = 0;
  for (const char* c = access; *c; ++c) {
    if (*c == 'm') bits |= BPF_DEVCG_ACC_MKNOD;
    if (*c == 'r') bits |= BPF_DEVCG_ACC_READ;
    if (*c == 'w') bits |= BPF_DEVCG_ACC_WRITE;
  }
  return bits;
}

// One rule: each condition jumps past the rest of the block when it fails; the block ends
// with "allow".
std::vector<bpf_insn> ruleBlock(const DeviceRule& rule) {
  struct Test {
    std::vector<bpf_insn> prelude;
    uint8_t reg;
    int32_t value;
  };
  std::vector<Test> tests;
  tests.push_back({{}, kType, rule.type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR});
  const int allowed = accessBits(rule.access);
  const int all = BPF_DEVCG_ACC_MKNOD | BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE;
  // Every access asked for must be allowed: (asked & allowed) == asked.
  if (allowed != all) tests.push_back({{mov64(kScratch, kAccess), alu32(BPF_AND, kScratch, allowed)}, kScratch, -1});
  if (rule.major >= 0) tests.push_back({{}, kMajor, int32_t(rule.major)});
  if (rule.minor >= 0) tests.push_back({{}, kMinor, int32_t(rule.minor)});

  std::vector<bpf_insn> block;
  std::vector<size_t> jumps;
  for (const auto& t : tests) {
    block.insert(block.end(), t.prelude.begin(), t.prelude.end());
    jumps.push_back(block.size());
    if (t.value == -1) block.push_back(insn(BPF_JMP | BPF_JNE | BPF_X, t.reg, kAccess, 0, 0));
    else block.push_back(insn(BPF_JMP | BPF_JNE | BPF_K, t.reg, 0, 0, t.value));
  }
  block.push_back(movImm(0, 1));
  block.push_back(exitInsn());
  for (size_t j : jumps) block[j].off = int16_t(block.size() - j - 1);
  return block;
}

long bpf(int cmd, bpf_attr& attr) { return syscall(SYS_bpf, cmd, &attr, sizeof attr); }

}  // namespace

std::vector<bpf_insn> deviceFilterProgram(const std::vector<DeviceRule>& rules) {
  // access_type holds the device type in its low 16 bits and the access in its high 16.
  std::vector<bpf_insn> program{
      loadU32(kType, offsetof(bpf_cgroup_dev_ctx, access_type)),
      alu32(BPF_AND, kType, 0xffff),
      loadU32(kAccess, offsetof(bpf_cgroup_dev_ctx, access_type)),
      alu32(BPF_RSH, kAccess, 16),
      loadU32(kMajor, offsetof(bpf_cgroup_dev_ctx, major)),
      loadU32(kMinor, offsetof(bpf_cgroup_dev_ctx, minor)),
  };
  for (const auto& rule : rules) {
    auto block = ruleBlock(rule);
    program.insert(program.end(), block.begin(), block.end());
  }
  program.push_back(movImm(0, 0));
  program.push_back(exitInsn());
  return program;
}

Status attachDeviceFilter(const std::string& cgroupDir, const std::vector<DeviceRule>& rules) {
  const auto program = deviceFilterProgram(rules);
  static const char license[] = "Apache";
  std::vector<char> log(64 * 1024);
  bpf_attr load{};
  load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  load.insns = reinterpret_cast<uint64_t>(program.data());
  load.insn_cnt = uint32_t(program.size());
  load.license = reinterpret_cast<uint64_t>(license);
  load.log_buf = reinterpret_cast<uint64_t>(log.data());
  load.log_size = uint32_t(log.size());
  load.log_level = 1;
  int prog = int(bpf(BPF_PROG_LOAD, load));
  if (prog < 0) {
    int err = errno;
    return Error::unavailable("cannot load the eBPF device filter (" + std::string(std::strerror(err)) +
                              "); the kernel needs CONFIG_CGROUP_BPF and skiff CAP_SYS_ADMIN: " + std::string(log.data()));
  }
  int dir = open(cgroupDir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) {
    int err = errno;
    close(prog);
    return Error::internal("cannot open cgroup " + cgroupDir + ": " + std::strerror(err));
  }
  // ALLOW_MULTI, as runc: programs of the parent groups still run, and all must allow.
  bpf_attr attach{};
  attach.target_fd = uint32_t(dir);
  attach.attach_bpf_fd = uint32_t(prog);
  attach.attach_type = BPF_CGROUP_DEVICE;
  attach.attach_flags = BPF_F_ALLOW_MULTI;
  long rc = bpf(BPF_PROG_ATTACH, attach);
  int err = errno;
  close(dir);
  close(prog);
  if (rc != 0) return Error::internal("cannot attach the eBPF device filter to " + cgroupDir + ": " + std::strerror(err));
  return {};
}

}  // namespace skiff::runtime
