#include "dns/dns_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/log.h"
#include "observe/metrics.h"

namespace skiff::dns {
namespace {

bool sockaddrFor(const std::string& host, uint16_t port, sockaddr_in& a) {
  a = sockaddr_in{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  return inet_pton(AF_INET, host.c_str(), &a.sin_addr) == 1;
}

observe::Counter& queriesCounter(const char* result) {
  static observe::Family<observe::Counter> queries("skiff_dns_queries_total", "DNS queries answered by the node's DNS server.", {"result"});
  return queries.with({result});
}

bool readExact(int fd, char* buf, size_t n, int timeoutMs) {
  size_t got = 0;
  while (got < n) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, timeoutMs) <= 0) return false;
    ssize_t r = ::recv(fd, buf + got, n - got, 0);
    if (r <= 0) return false;
    got += size_t(r);
  }
  return true;
}

}  // namespace

std::vector<std::string> resolvConfNameservers(const std::string& path, const std::string& exclude) {
  std::vector<std::string> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::string key, value;
    if (words >> key >> value && key == "nameserver" && value != exclude && value.find(':') == std::string::npos) out.push_back(value);
  }
  return out;
}

DnsServer::DnsServer(DnsServerOptions options, ClusterView cluster)
    : options_(std::move(options)), cluster_(std::move(cluster)) {
  if (options_.upstreams.empty()) options_.upstreams = resolvConfNameservers("/etc/resolv.conf", options_.address);
}

DnsServer::~DnsServer() { stop(); }

Status DnsServer::start() {
  sockaddr_in a;
  if (!sockaddrFor(options_.address, options_.port, a)) return Error::badRequest("invalid DNS listen address " + options_.address);
  // One port for UDP and TCP. With port 0 the kernel picks the UDP port, and that number may be
  // taken for TCP by someone else: then try another (a few times), as it is free to choose.
  for (int attempt = 0;; ++attempt) {
    udp_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    tcp_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(tcp_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in at = a;
    if (bind(udp_, reinterpret_cast<sockaddr*>(&at), sizeof at) != 0)
      return Error::unavailable("cannot listen for DNS on " + options_.address + ":" + std::to_string(options_.port) + "/udp: " + std::strerror(errno));
    socklen_t len = sizeof at;
    getsockname(udp_, reinterpret_cast<sockaddr*>(&at), &len);
    port_ = ntohs(at.sin_port);
    if (bind(tcp_, reinterpret_cast<sockaddr*>(&at), sizeof at) == 0 && listen(tcp_, 64) == 0) break;
    int err = errno;
    close(udp_);
    close(tcp_);
    udp_ = tcp_ = -1;
    if (options_.port != 0 || err != EADDRINUSE || attempt >= 8)
      return Error::unavailable("cannot listen for DNS on " + options_.address + ":" + std::to_string(port_) + "/tcp: " + std::strerror(err));
  }
  udpThread_ = std::thread([this] { serveUdp(); });
  tcpThread_ = std::thread([this] { serveTcp(); });
  return {};
}

void DnsServer::stop() {
  if (stopping_.exchange(true)) return;
  if (udp_ >= 0) shutdown(udp_, SHUT_RDWR);
  if (tcp_ >= 0) shutdown(tcp_, SHUT_RDWR);
  if (udpThread_.joinable()) udpThread_.join();
  if (tcpThread_.joinable()) tcpThread_.join();
  for (int i = 0; i < 300 && inFlight_ > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (udp_ >= 0) close(udp_);
  if (tcp_ >= 0) close(tcp_);
  udp_ = tcp_ = -1;
}

std::string DnsServer::answer(std::string_view packet) {
  auto q = parseQuery(packet);
  if (!q) {
    queriesCounter("formerr").inc();
    if (packet.size() < 12) return "";
    Query bad;
    bad.id = uint16_t((static_cast<unsigned char>(packet[0]) << 8) | static_cast<unsigned char>(packet[1]));
    std::string out = buildResponse(bad, kFormErr, {}, false);
    // No question section in a FORMERR answer.
    out[4] = out[5] = 0;
    return out.substr(0, 12);
  }
  Resolution r = resolveClusterName(q->question, cluster_, options_.domain);
  if (r.forward) return "";  // the caller forwards
  queriesCounter(r.rcode == kNXDomain ? "nxdomain" : "cluster").inc();
  return buildResponse(*q, r.rcode, r.answers, true);
}

std::string DnsServer::forward(std::string_view packet, bool overTcp) {
  for (const auto& up : options_.upstreams) {
    std::string host = up;
    uint16_t port = 53;
    if (auto colon = up.find(':'); colon != std::string::npos) {
      host = up.substr(0, colon);
      port = uint16_t(std::atoi(up.c_str() + colon + 1));
    }
    sockaddr_in a;
    if (!sockaddrFor(host, port, a)) continue;
    int fd = socket(AF_INET, (overTcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    std::string reply;
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
      if (overTcp) {
        std::string framed;
        framed += char(packet.size() >> 8);
        framed += char(packet.size() & 0xff);
        framed.append(packet);
        char lenBuf[2];
        if (send(fd, framed.data(), framed.size(), MSG_NOSIGNAL) == ssize_t(framed.size()) && readExact(fd, lenBuf, 2, 2000)) {
          size_t n = (size_t(static_cast<unsigned char>(lenBuf[0])) << 8) | static_cast<unsigned char>(lenBuf[1]);
          reply.resize(n);
          if (!readExact(fd, reply.data(), n, 2000)) reply.clear();
        }
      } else if (send(fd, packet.data(), packet.size(), 0) == ssize_t(packet.size())) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 2000) > 0) {
          char buf[4096];
          ssize_t n = recv(fd, buf, sizeof buf, 0);
          if (n > 0) reply.assign(buf, size_t(n));
        }
      }
    }
    close(fd);
    if (!reply.empty()) {
      queriesCounter("forwarded").inc();
      return reply;
    }
  }
  queriesCounter("servfail").inc();
  auto q = parseQuery(packet);
  return q ? buildResponse(*q, kServFail, {}, false) : "";
}

void DnsServer::serveUdp() {
  char buf[4096];
  while (!stopping_) {
    sockaddr_in from{};
    socklen_t len = sizeof from;
    ssize_t n = recvfrom(udp_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n <= 0) {
      if (stopping_) return;
      continue;
    }
    std::string packet(buf, size_t(n));
    std::string reply = answer(packet);
    if (reply.empty() && packet.size() >= 12) {
      if (inFlight_ >= 64) continue;  // overloaded: the client retries
      ++inFlight_;
      std::thread([this, packet, from, len] {
        std::string r = forward(packet, false);
        if (!r.empty()) sendto(udp_, r.data(), r.size(), 0, reinterpret_cast<const sockaddr*>(&from), len);
        --inFlight_;
      }).detach();
      continue;
    }
    if (!reply.empty()) sendto(udp_, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
  }
}

void DnsServer::serveTcp() {
  while (!stopping_) {
    int fd = accept4(tcp_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (stopping_) return;
      continue;
    }
    if (inFlight_ >= 64) {
      close(fd);
      continue;
    }
    ++inFlight_;
    std::thread([this, fd] {
      char lenBuf[2];
      while (!stopping_ && readExact(fd, lenBuf, 2, 5000)) {
        size_t n = (size_t(static_cast<unsigned char>(lenBuf[0])) << 8) | static_cast<unsigned char>(lenBuf[1]);
        std::string packet(n, '\0');
        if (!readExact(fd, packet.data(), n, 5000)) break;
        std::string reply = answer(packet);
        if (reply.empty()) reply = forward(packet, true);
        if (reply.empty()) break;
        std::string framed;
        framed += char(reply.size() >> 8);
        framed += char(reply.size() & 0xff);
        framed += reply;
        if (send(fd, framed.data(), framed.size(), MSG_NOSIGNAL) != ssize_t(framed.size())) break;
      }
      close(fd);
      --inFlight_;
    }).detach();
  }
}

}  // namespace skiff::dns
