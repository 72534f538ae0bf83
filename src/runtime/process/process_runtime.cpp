// The `process` runtime: containers are plain host processes. Each runs in its own session and
// process group (so stopping it reaches its children), with stdout and stderr appended to its log
// file. No isolation: meant for machines without root and for fast tests; pods share the host
// network and learn their ports from environment variables.
#include <sys/stat.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "api/object.h"
#include "runtime/runtime.h"

namespace skiff::runtime {
namespace {

ExitInfo fromStatus(int status) {
  ExitInfo e;
  if (WIFEXITED(status)) e.exitCode = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) {
    e.signal = WTERMSIG(status);
    e.exitCode = 128 + e.signal;
  }
  e.finishedAt = api::rfc3339Now();
  return e;
}

// Forks and execs `argv` with `env` in a new session; stdout/stderr to `outFd`. The child joins
// the cgroups first (writing "0" to cgroup.procs moves the writer). Between fork and exec only
// async-signal-safe calls are made: everything is prepared beforehand, and a failure is reported
// through a pipe as a step number and errno for the parent to put into words.
Result<pid_t> spawn(const std::vector<std::string>& argv, const std::vector<std::pair<std::string, std::string>>& env,
                    const std::string& workingDir, int outFd, const std::vector<std::string>& cgroupProcs = {}, int inFd = -1,
                    int errFd = -1) {
  if (argv.empty()) return Error::badRequest("no command to run");
  int errPipe[2];
  if (pipe2(errPipe, O_CLOEXEC) != 0) return Error::internal(std::string("pipe: ") + std::strerror(errno));
  std::vector<std::string> envStrings;
  for (const auto& [k, v] : env) envStrings.push_back(k + "=" + v);
  std::vector<char*> cargv, cenv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (const auto& e : envStrings) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);
  std::vector<const char*> procs;
  for (const auto& p : cgroupProcs) procs.push_back(p.c_str());
  const char* dir = workingDir.empty() ? nullptr : workingDir.c_str();
  pid_t pid = fork();
  if (pid < 0) {
    close(errPipe[0]);
    close(errPipe[1]);
    return Error::internal(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    auto fail = [&](int step) {
      int report[2] = {step, errno};
      ssize_t n = write(errPipe[1], report, sizeof report);
      (void)n;
      _exit(127);
    };
    for (const char* p : procs) {
      int fd = open(p, O_WRONLY | O_CLOEXEC);
      if (fd < 0 || write(fd, "0", 1) != 1) fail(3);
      close(fd);
    }
    setsid();
    int devnull = open("/dev/null", O_RDONLY);
    dup2(inFd >= 0 ? inFd : devnull, 0);
    dup2(outFd, 1);
    dup2(errFd >= 0 ? errFd : outFd, 2);
    if (isatty(1)) ioctl(1, TIOCSCTTY, 0);  // an exec with a terminal: make it the controlling one
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    umask(022);  // skiff runs with 077; containers get what runc gives them
    if (dir && chdir(dir) != 0) fail(1);
    closeFdsOnExec();
    // execvpe searches PATH from the container's environment, like a container runtime would.
    execvpe(cargv[0], cargv.data(), cenv.data());
    fail(2);
  }
  close(errPipe[1]);
  int report[2] = {0, 0};
  ssize_t n = read(errPipe[0], report, sizeof report);
  close(errPipe[0]);
  if (n == ssize_t(sizeof report)) {
    int status;
    waitpid(pid, &status, 0);
    std::string why = std::strerror(report[1]);
    if (report[0] == 1) return Error::badRequest("chdir to " + workingDir + ": " + why);
    if (report[0] == 3) return Error::internal("joining the container's cgroup: " + why);
    return Error::badRequest("exec " + argv[0] + ": " + why);
  }
  return pid;
}

class ProcessContainer final : public Container {
 public:
  ProcessContainer(pid_t pid, std::unique_ptr<Cgroup> cgroup, std::function<void()> cleanup)
      : pid_(pid), cgroup_(std::move(cgroup)), cleanup_(std::move(cleanup)) {}
  ~ProcessContainer() override {
    if (!exited_) stop(std::chrono::milliseconds(0));
    if (cleanup_) cleanup_();
  }
  int pid() const override { return pid_; }
  std::optional<ExitInfo> poll() override {
    if (exited_) return exit_;
    int status;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exited_ = true;
      exit_ = fromStatus(status);
      killpg(pid_, SIGKILL);  // leftovers of the group go with their leader
      if (cgroup_ && exit_.signal == SIGKILL && cgroup_->stats().oomKills > 0) exit_.oomKilled = true;
      return exit_;
    }
    return std::nullopt;
  }
  std::optional<CgroupStats> stats() const override {
    if (!cgroup_ || !cgroup_->available()) return std::nullopt;
    return cgroup_->stats();
  }
  void kill(int sig) override {
    if (exited_) return;
    killpg(pid_, sig);
    ::kill(pid_, sig);  // a container init that is not a group leader (runc) still gets it
  }
  ExitInfo stop(std::chrono::milliseconds grace) override {
    if (auto e = poll()) return *e;
    kill(SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + grace;
    while (std::chrono::steady_clock::now() < deadline) {
      if (auto e = poll()) return *e;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill(SIGKILL);
    int status;
    waitpid(pid_, &status, 0);
    exited_ = true;
    exit_ = fromStatus(status);
    return exit_;
  }

 private:
  pid_t pid_;
  std::unique_ptr<Cgroup> cgroup_;  // destroyed after the process is gone
  std::function<void()> cleanup_;
  bool exited_ = false;
  ExitInfo exit_;
};

class ProcessRuntime final : public Runtime {
 public:
  std::string name() const override { return "process"; }

  Result<std::unique_ptr<Container>> start(const ContainerSpec& spec) override {
    if (spec.command.empty())
      return Error::badRequest("the process runtime runs a container's command on the host and \"" + spec.image +
                               "\" names no command; set `command` (image entrypoints need the native runtime)");
    std::unique_ptr<Cgroup> cgroup;
    if (!spec.cgroup.empty()) {
      auto cg = Cgroup::create(spec.cgroup, spec.limits);
      if (!cg) return cg.error();
      cgroup = std::move(*cg);
    }
    int fd = open(spec.logPath.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) return Error::internal("cannot open log " + spec.logPath + ": " + std::strerror(errno));
    auto pid = spawn(spec.command, spec.env, spec.workingDir, fd, cgroup ? cgroup->procsFiles() : std::vector<std::string>{});
    close(fd);
    if (!pid) return pid.error();
    return makeChildContainer(*pid, std::move(cgroup));
  }

  Result<ExecProcess> startExec(const Container& container, const std::vector<std::string>& command, bool withStdin,
                                ExecStdio stdio) override {
    (void)container;  // no namespaces to enter: it runs on the host like the container itself
    auto pipes = ExecPipes::make(withStdin, stdio);
    if (!pipes) return pipes.error();
    auto pid = spawn(command, {{"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}}, "", pipes->childOut, {},
                     pipes->childIn, pipes->childErr);
    pipes->closeChildEnds();
    if (!pid) {
      pipes->closeAll();
      return pid.error();
    }
    pipes->parent.pid = *pid;
    return pipes->parent;
  }

  Result<std::unique_ptr<Container>> adopt(const ContainerRecord& record) override {
    if (record.pid <= 0 || processStartTicks(record.pid) != record.startTicks) return Error::notFound("container " + record.id + " is gone");
    return makeAdoptedContainer(record, {});
  }
};

}  // namespace

std::unique_ptr<Runtime> makeProcessRuntime() { return std::make_unique<ProcessRuntime>(); }

void closeFdsOnExec() {
  if (syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC) == 0) return;
  rlimit limit{};
  int top = syscall(SYS_getrlimit, RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < (1u << 20) ? int(limit.rlim_cur) : (1 << 20);
  for (int fd = 3; fd < top; ++fd) fcntl(fd, F_SETFD, FD_CLOEXEC);
}

uint64_t processStartTicks(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  // Fields after the command (which may hold spaces) start after the last ')'.
  auto close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(stat.substr(close + 2));
  std::string field;
  std::vector<std::string> fields;
  while (rest >> field) fields.push_back(field);
  if (fields.size() < 20 || fields[0] == "Z" || fields[0] == "X") return 0;
  return std::strtoull(fields[19].c_str(), nullptr, 10);  // field 22 of the whole line
}

namespace {

class AdoptedContainer final : public Container {
 public:
  AdoptedContainer(ContainerRecord record, std::unique_ptr<Cgroup> cgroup, std::function<void()> cleanup)
      : record_(std::move(record)), cgroup_(std::move(cgroup)), cleanup_(std::move(cleanup)) {}
  ~AdoptedContainer() override {
    if (!poll()) stop(std::chrono::milliseconds(0));
    if (cleanup_) cleanup_();
  }
  int pid() const override { return record_.pid; }
  std::optional<ExitInfo> poll() override {
    if (exit_) return exit_;
    if (processStartTicks(record_.pid) == record_.startTicks) return std::nullopt;
    // Not our child: how it ended is unknowable; report it as the kubelet does.
    ExitInfo e;
    e.unknown = true;
    e.exitCode = 137;
    e.finishedAt = api::rfc3339Now();
    exit_ = e;
    return exit_;
  }
  void kill(int sig) override {
    if (poll()) return;
    killpg(record_.pid, sig);
    ::kill(record_.pid, sig);
  }
  ExitInfo stop(std::chrono::milliseconds grace) override {
    if (auto e = poll()) return *e;
    kill(SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + grace;
    while (std::chrono::steady_clock::now() < deadline)
      if (auto e = poll()) return *e;
      else std::this_thread::sleep_for(std::chrono::milliseconds(10));
    kill(SIGKILL);
    for (int i = 0; i < 500 && !poll(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return poll().value_or(ExitInfo{true, 137, 9, false, api::rfc3339Now()});
  }
  std::optional<CgroupStats> stats() const override {
    if (!cgroup_ || !cgroup_->available()) return std::nullopt;
    return cgroup_->stats();
  }

 private:
  ContainerRecord record_;
  std::unique_ptr<Cgroup> cgroup_;
  std::function<void()> cleanup_;
  std::optional<ExitInfo> exit_;
};

}  // namespace

std::unique_ptr<Container> makeAdoptedContainer(const ContainerRecord& record, std::function<void()> cleanup) {
  std::unique_ptr<Cgroup> cgroup;
  if (!record.cgroup.empty())
    if (auto cg = Cgroup::create(record.cgroup, ResourceLimits{})) cgroup = std::move(*cg);
  return std::make_unique<AdoptedContainer>(record, std::move(cgroup), std::move(cleanup));
}

std::unique_ptr<Container> makeChildContainer(int pid, std::unique_ptr<Cgroup> cgroup, std::function<void()> cleanup) {
  return std::make_unique<ProcessContainer>(pid, std::move(cgroup), std::move(cleanup));
}

Result<ExecPipes> ExecPipes::make(bool withStdin, ExecStdio stdio) {
  ExecPipes p;
  if (stdio == ExecStdio::kTerminal) {
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) {
      if (master >= 0) close(master);
      return Error::internal(std::string("allocating a terminal: ") + std::strerror(errno));
    }
    char name[128];
    int slave = ptsname_r(master, name, sizeof name) == 0 ? open(name, O_RDWR | O_NOCTTY | O_CLOEXEC) : -1;
    if (slave < 0) {
      close(master);
      return Error::internal(std::string("opening the terminal: ") + std::strerror(errno));
    }
    p.terminal = true;
    p.childIn = p.childOut = p.childErr = slave;
    p.parent.stdoutFd = master;
    p.parent.stdinFd = withStdin ? fcntl(master, F_DUPFD_CLOEXEC, 0) : -1;
    return p;
  }
  bool mergeOutput = stdio == ExecStdio::kMerged;
  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
  bool ok = pipe2(out, O_CLOEXEC) == 0;
  if (ok && withStdin) ok = pipe2(in, O_CLOEXEC) == 0;
  if (ok && !mergeOutput) ok = pipe2(err, O_CLOEXEC) == 0;
  p.childIn = in[0];
  p.parent.stdinFd = in[1];
  p.childOut = out[1];
  p.parent.stdoutFd = out[0];
  p.childErr = mergeOutput ? out[1] : err[1];
  p.parent.stderrFd = mergeOutput ? -1 : err[0];
  if (!ok) {
    p.closeAll();
    return Error::internal(std::string("pipe: ") + std::strerror(errno));
  }
  return p;
}

void ExecPipes::closeChildEnds() {
  if (childErr == childOut) childErr = -1;  // merged: one pipe end, closed once
  if (childIn == childOut) childIn = -1;    // a terminal: one slave for all three
  for (int* fd : {&childIn, &childOut, &childErr})
    if (*fd >= 0) {
      close(*fd);
      *fd = -1;
    }
}

Result<ExecProcess> ExecPipes::afterFork(int pid) {
  closeChildEnds();
  if (pid < 0) {
    closeAll();
    return Error::internal(std::string("fork: ") + std::strerror(errno));
  }
  parent.pid = pid;
  return parent;
}

void ExecPipes::closeAll() {
  closeChildEnds();
  for (int* fd : {&parent.stdinFd, &parent.stdoutFd, &parent.stderrFd})
    if (*fd >= 0) {
      close(*fd);
      *fd = -1;
    }
}

ExecResult Runtime::exec(const Container& container, const std::vector<std::string>& command, std::chrono::milliseconds timeout) {
  auto p = startExec(container, command, false, ExecStdio::kMerged);
  if (!p) {
    ExecResult r;
    r.output = p.error().message;
    return r;
  }
  return collectChild(p->pid, p->stdoutFd, timeout);
}

ExecResult collectChild(int pid, int outFd, std::chrono::milliseconds timeout) {
  ExecResult result;
  fcntl(outFd, F_SETFL, O_NONBLOCK);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  while (true) {
    ssize_t n = read(outFd, buf, sizeof buf);
    if (n > 0 && result.output.size() < 64 * 1024) result.output.append(buf, size_t(n));
    int status;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      while ((n = read(outFd, buf, sizeof buf)) > 0 && result.output.size() < 64 * 1024) result.output.append(buf, size_t(n));
      result.exitCode = fromStatus(status).exitCode;
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      killpg(pid, SIGKILL);
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      result.timedOut = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  close(outFd);
  return result;
}

}  // namespace skiff::runtime
