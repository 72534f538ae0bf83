// The `process` runtime: containers are plain host processes. Each runs in its own session and
// process group (so stopping it reaches its children), with stdout and stderr appended to its log
// file. No isolation: meant for machines without root and for fast tests; pods share the host
// network and learn their ports from environment variables.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
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

// Forks and execs `argv` with `env` in a new session; stdout/stderr to `logFd` (or a pipe).
Result<pid_t> spawn(const std::vector<std::string>& argv, const std::vector<std::pair<std::string, std::string>>& env,
                    const std::string& workingDir, int outFd) {
  if (argv.empty()) return Error::badRequest("no command to run");
  // An error pipe tells the parent why exec failed (missing binary, bad working dir).
  int errPipe[2];
  if (pipe2(errPipe, O_CLOEXEC) != 0) return Error::internal(std::string("pipe: ") + std::strerror(errno));
  std::vector<std::string> envStrings;
  for (const auto& [k, v] : env) envStrings.push_back(k + "=" + v);
  std::vector<char*> cargv, cenv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (const auto& e : envStrings) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) {
    close(errPipe[0]);
    close(errPipe[1]);
    return Error::internal(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    setsid();
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(outFd, 1);
    dup2(outFd, 2);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    auto report = [&](const char* what) {
      std::string msg = std::string(what) + ": " + std::strerror(errno);
      ssize_t n = write(errPipe[1], msg.data(), msg.size());
      (void)n;
      _exit(127);
    };
    if (!workingDir.empty() && chdir(workingDir.c_str()) != 0) report(("chdir to " + workingDir).c_str());
    // execvpe searches PATH from the container's environment, like a container runtime would.
    execvpe(cargv[0], cargv.data(), cenv.data());
    report(("exec " + argv[0]).c_str());
  }
  close(errPipe[1]);
  char buf[512];
  ssize_t n = read(errPipe[0], buf, sizeof buf);
  close(errPipe[0]);
  if (n > 0) {
    int status;
    waitpid(pid, &status, 0);
    return Error::badRequest(std::string(buf, size_t(n)));
  }
  return pid;
}

class ProcessContainer final : public Container {
 public:
  explicit ProcessContainer(pid_t pid) : pid_(pid) {}
  ~ProcessContainer() override {
    if (!exited_) stop(std::chrono::milliseconds(0));
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
      return exit_;
    }
    return std::nullopt;
  }
  void kill(int sig) override {
    if (!exited_) killpg(pid_, sig);
  }
  ExitInfo stop(std::chrono::milliseconds grace) override {
    if (auto e = poll()) return *e;
    killpg(pid_, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + grace;
    while (std::chrono::steady_clock::now() < deadline) {
      if (auto e = poll()) return *e;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    killpg(pid_, SIGKILL);
    int status;
    waitpid(pid_, &status, 0);
    exited_ = true;
    exit_ = fromStatus(status);
    return exit_;
  }

 private:
  pid_t pid_;
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
    int fd = open(spec.logPath.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) return Error::internal("cannot open log " + spec.logPath + ": " + std::strerror(errno));
    auto pid = spawn(spec.command, spec.env, spec.workingDir, fd);
    close(fd);
    if (!pid) return pid.error();
    return std::unique_ptr<Container>(std::make_unique<ProcessContainer>(*pid));
  }

  ExecResult exec(const Container& container, const std::vector<std::string>& command,
                  std::chrono::milliseconds timeout) override {
    (void)container;  // no namespaces to enter: it runs on the host like the container itself
    ExecResult result;
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) return result;
    auto pid = spawn(command, {{"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}}, "", out[1]);
    close(out[1]);
    if (!pid) {
      close(out[0]);
      result.output = pid.error().message;
      return result;
    }
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    char buf[4096];
    while (true) {
      ssize_t n = read(out[0], buf, sizeof buf);
      if (n > 0 && result.output.size() < 64 * 1024) result.output.append(buf, size_t(n));
      int status;
      pid_t r = waitpid(*pid, &status, WNOHANG);
      if (r == *pid) {
        while ((n = read(out[0], buf, sizeof buf)) > 0 && result.output.size() < 64 * 1024) result.output.append(buf, size_t(n));
        result.exitCode = fromStatus(status).exitCode;
        break;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        killpg(*pid, SIGKILL);
        waitpid(*pid, &status, 0);
        result.timedOut = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    close(out[0]);
    return result;
  }
};

}  // namespace

std::unique_ptr<Runtime> makeProcessRuntime() { return std::make_unique<ProcessRuntime>(); }

}  // namespace skiff::runtime
