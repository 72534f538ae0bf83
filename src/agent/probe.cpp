#include "agent/probe.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace skiff::agent {
namespace {

// Connects with a deadline; returns the socket or -1 with *detail set.
int connectWithin(const std::string& host, int port, std::chrono::steady_clock::time_point deadline, std::string* detail) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(uint16_t(port));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    if (detail) *detail = "bad probe host " + host;
    return -1;
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS) {
    if (detail) *detail = "dial tcp " + host + ":" + std::to_string(port) + ": " + std::strerror(errno);
    close(fd);
    return -1;
  }
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
  pollfd p{fd, POLLOUT, 0};
  if (left <= 0 || poll(&p, 1, int(left)) <= 0) {
    if (detail) *detail = "dial tcp " + host + ":" + std::to_string(port) + ": i/o timeout";
    close(fd);
    return -1;
  }
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err) {
    if (detail) *detail = "dial tcp " + host + ":" + std::to_string(port) + ": " + std::strerror(err);
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

bool tcpProbe(const std::string& host, int port, std::chrono::milliseconds timeout, std::string* detail) {
  int fd = connectWithin(host, port, std::chrono::steady_clock::now() + timeout, detail);
  if (fd < 0) return false;
  close(fd);
  return true;
}

bool httpProbe(const std::string& host, int port, const std::string& path, std::chrono::milliseconds timeout,
               std::string* detail) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int fd = connectWithin(host, port, deadline, detail);
  if (fd < 0) return false;
  std::string req = "GET " + (path.empty() ? std::string("/") : path) + " HTTP/1.1\r\nHost: " + host + ":" +
                    std::to_string(port) + "\r\nUser-Agent: skiff-probe/1.0\r\nAccept: */*\r\nConnection: close\r\n\r\n";
  if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) != ssize_t(req.size())) {
    if (detail) *detail = "write failed";
    close(fd);
    return false;
  }
  std::string head;
  char buf[512];
  while (head.find("\r\n") == std::string::npos && head.size() < 4096) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || poll(&p, 1, int(left)) <= 0) {
      if (detail) *detail = "Get \"http://" + host + ":" + std::to_string(port) + path + "\": context deadline exceeded";
      close(fd);
      return false;
    }
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    head.append(buf, size_t(n));
  }
  close(fd);
  // "HTTP/1.1 200 OK"
  auto sp = head.find(' ');
  int code = sp == std::string::npos ? 0 : std::atoi(head.c_str() + sp + 1);
  if (code >= 200 && code < 400) return true;
  if (detail) *detail = code ? "HTTP probe failed with statuscode: " + std::to_string(code) : "malformed HTTP response";
  return false;
}

}  // namespace skiff::agent
