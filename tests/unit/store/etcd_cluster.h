// A real etcd cluster on loopback for tests: members on free ports, data in a temp dir, started
// from the `etcd` binary (Debian's etcd-server) and stopped with SIGTERM (or killed on request).
#pragma once
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "store/etcd/etcd_store.h"

namespace skiff::store::testing {

// The etcd binary on PATH, or "" (tests skip without it).
inline std::string etcdBinary() {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  for (size_t start = 0; start <= dirs.size();) {
    size_t colon = dirs.find(':', start);
    std::string dir = dirs.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    std::string candidate = dir + "/etcd";
    if (!dir.empty() && ::access(candidate.c_str(), X_OK) == 0) return candidate;
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return "";
}

inline int freeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// GET /health on a member's client port: {"health":"true"} once the cluster has a leader.
inline bool memberHealthy(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    std::string req = "GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::write(fd, req.data(), req.size()) == ssize_t(req.size())) {
      std::string resp;
      char buf[1024];
      ssize_t n;
      while ((n = ::read(fd, buf, sizeof buf)) > 0) resp.append(buf, size_t(n));
      ok = resp.find("\"health\":\"true\"") != std::string::npos;
    }
  }
  ::close(fd);
  return ok;
}

class EtcdCluster {
 public:
  explicit EtcdCluster(int members) : binary_(etcdBinary()) {
    dir_ = std::filesystem::temp_directory_path() / ("skiff-etcd-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    for (int i = 0; i < members; ++i) members_.push_back(Member{freeLoopbackPort(), freeLoopbackPort(), -1});
  }
  ~EtcdCluster() {
    for (auto& m : members_)
      if (m.pid > 0) ::kill(m.pid, SIGTERM);
    for (auto& m : members_)
      if (m.pid > 0) ::waitpid(m.pid, nullptr, 0);
    std::filesystem::remove_all(dir_);
  }
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  static bool available() { return !etcdBinary().empty(); }

  // Starts every member and waits (up to 30 s) for the cluster to have a leader.
  bool start() {
    for (size_t i = 0; i < members_.size(); ++i) launch(i, "new");
    return waitHealthy();
  }
  bool waitHealthy() {
    for (int i = 0; i < 300; ++i) {
      for (auto& m : members_)
        if (m.pid > 0 && memberHealthy(m.clientPort)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  void kill(size_t member) {
    Member& m = members_[member];
    if (m.pid <= 0) return;
    ::kill(m.pid, SIGKILL);
    ::waitpid(m.pid, nullptr, 0);
    m.pid = -1;
  }
  void restart(size_t member) { launch(member, "existing"); }

  std::vector<std::string> endpoints() const {
    std::vector<std::string> out;
    for (const auto& m : members_) out.push_back("127.0.0.1:" + std::to_string(m.clientPort));
    return out;
  }
  EtcdOptions options(const std::string& prefix) const {
    EtcdOptions o;
    o.endpoints = endpoints();
    o.prefix = prefix;
    o.historyLimit = 1000;
    o.compactInterval = std::chrono::milliseconds(0);
    return o;
  }
  std::string log(size_t member) const { return (dir_ / ("member" + std::to_string(member) + ".log")).string(); }

 private:
  struct Member {
    int clientPort, peerPort;
    pid_t pid;
  };
  static int& counter() {
    static int n = 0;
    return n;
  }

  void launch(size_t i, const std::string& state) {
    std::string initial;
    for (size_t j = 0; j < members_.size(); ++j)
      initial += (j ? "," : "") + std::string("m") + std::to_string(j) + "=http://127.0.0.1:" + std::to_string(members_[j].peerPort);
    std::string client = "http://127.0.0.1:" + std::to_string(members_[i].clientPort);
    std::string peer = "http://127.0.0.1:" + std::to_string(members_[i].peerPort);
    std::vector<std::string> args = {binary_, "--name", "m" + std::to_string(i), "--data-dir", (dir_ / ("m" + std::to_string(i))).string(),
                                     "--listen-client-urls", client, "--advertise-client-urls", client,
                                     "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                                     "--initial-cluster", initial, "--initial-cluster-state", state,
                                     "--initial-cluster-token", dir_.filename().string(),
                                     "--heartbeat-interval", "50", "--election-timeout", "500", "--logger", "zap"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::string logPath = log(i);
    pid_t pid = ::fork();
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // a crashed test leaves no etcd behind
      int fd = ::open(logPath.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    members_[i].pid = pid;
  }

  std::string binary_;
  std::filesystem::path dir_;
  std::vector<Member> members_;
};

}  // namespace skiff::store::testing
