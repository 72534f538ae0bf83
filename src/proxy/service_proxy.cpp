#include "proxy/service_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "api/object.h"
#include "common/log.h"
#include "network/netlink.h"
#include "observe/metrics.h"

namespace skiff::proxy {
namespace json = boost::json;

struct ServiceProxy::Listener {
  std::string ip;
  int port = 0;
  std::string ns, service, portName;
  bool clientAffinity = false;  // sessionAffinity: ClientIP
  int fd = -1;
  std::thread thread;
  std::atomic<uint64_t> next{0};
  std::atomic<bool> closing{false};
};

namespace {

observe::Counter& connectionsCounter(const std::string& service, const char* result) {
  static observe::Family<observe::Counter> c("skiff_proxy_tcp_connections_total", "TCP connections to cluster IPs, by service and result.",
                                             {"service", "result"});
  return c.with({service, result});
}

// Copies bytes both ways until both directions are done (half-closes are passed on).
void pump(int a, int b) {
  char buf[65536];
  bool aOpen = true, bOpen = true;
  while (aOpen || bOpen) {
    pollfd fds[2] = {{aOpen ? a : -1, POLLIN, 0}, {bOpen ? b : -1, POLLIN, 0}};
    if (::poll(fds, 2, 300000) <= 0) return;  // idle for 5 minutes, or an error
    for (int i = 0; i < 2; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      int from = i == 0 ? a : b, to = i == 0 ? b : a;
      ssize_t n = recv(from, buf, sizeof buf, 0);
      if (n <= 0) {
        (i == 0 ? aOpen : bOpen) = false;
        shutdown(to, SHUT_WR);
        if (n < 0) return;
        continue;
      }
      for (ssize_t off = 0; off < n;) {
        ssize_t w = send(to, buf + off, size_t(n - off), MSG_NOSIGNAL);
        if (w <= 0) return;
        off += w;
      }
    }
  }
}

int connectTo(const std::string& ip, int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{3, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  if (inet_pton(AF_INET, ip.c_str(), &a.sin_addr) != 1 || connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  timeval none{0, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof none);
  return fd;
}

void reset(int fd) {
  linger l{1, 0};  // close with RST: "connection refused" as far as the client can tell
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close(fd);
}

}  // namespace

std::vector<std::pair<std::string, int>> readyEndpoints(const json::value& endpoints, const std::string& portName) {
  std::vector<std::pair<std::string, int>> out;
  const json::value* subsets = api::valueAt(endpoints, "subsets");
  if (!subsets || !subsets->is_array()) return out;
  for (const auto& s : subsets->get_array()) {
    int port = 0;
    if (const json::value* ports = api::valueAt(s, "ports"); ports && ports->is_array())
      for (const auto& p : ports->get_array())
        if (api::stringAt(p, "name") == portName || ports->get_array().size() == 1) {
          const json::value* v = api::valueAt(p, "port");
          port = v && v->is_int64() ? int(v->get_int64()) : 0;
        }
    if (port == 0) continue;
    if (const json::value* addrs = api::valueAt(s, "addresses"); addrs && addrs->is_array())
      for (const auto& a : addrs->get_array()) out.emplace_back(api::stringAt(a, "ip"), port);
  }
  return out;
}

ServiceProxy::ServiceProxy(controller::Informer& services, controller::Informer& endpoints, ServiceProxyOptions options)
    : services_(services), endpoints_(endpoints), options_(std::move(options)) {}

ServiceProxy::~ServiceProxy() { stop(); }

Status ServiceProxy::start() {
  reconciler_ = std::thread([this] { reconcileLoop(); });
  return {};
}

void ServiceProxy::stop() {
  if (stopping_.exchange(true)) return;
  if (reconciler_.joinable()) reconciler_.join();
  std::lock_guard lock(mutex_);
  network::Netlink nl;
  for (auto& [key, l] : listeners_) {
    l->closing = true;
    shutdown(l->fd, SHUT_RDWR);
    if (l->thread.joinable()) l->thread.join();
    close(l->fd);
  }
  listeners_.clear();
  if (!options_.bridge.empty())
    for (const auto& [ip, n] : addresses_) (void)nl.deleteAddress(options_.bridge, ip, 32);
  addresses_.clear();
  for (int i = 0; i < 100 && connections_ > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

void ServiceProxy::reconcileLoop() {
  while (!stopping_) {
    try {
      reconcile();
    } catch (const std::exception& e) {
      log::error("proxy", std::string("reconciling services: ") + e.what());
    }
    for (int i = 0; i < 5 && !stopping_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

void ServiceProxy::reconcile() {
  // Desired: one listener per (cluster IP, TCP port) of every service with a cluster IP.
  std::map<std::string, std::tuple<std::string, int, std::string, std::string, std::string, bool>> want;
  for (const auto& svc : services_.list()) {
    std::string ip = api::stringAt(*svc, "spec.clusterIP");
    if (ip.empty() || ip == "None" || api::stringAt(*svc, "spec.type") == "ExternalName") continue;
    if (const json::value* ports = api::valueAt(*svc, "spec.ports"); ports && ports->is_array())
      for (const auto& p : ports->get_array()) {
        std::string proto = api::stringAt(p, "protocol");
        if (!proto.empty() && proto != "TCP") continue;
        const json::value* port = api::valueAt(p, "port");
        if (!port || !port->is_int64()) continue;
        std::string ns = api::stringAt(*svc, "metadata.namespace"), name = api::stringAt(*svc, "metadata.name");
        bool affinity = api::stringAt(*svc, "spec.sessionAffinity") == "ClientIP";
        want[ip + ":" + std::to_string(port->get_int64())] = {ip, int(port->get_int64()), ns, name, api::stringAt(p, "name"), affinity};
        // NodePort and LoadBalancer services also answer on the node's own addresses.
        std::string type = api::stringAt(*svc, "spec.type");
        const json::value* nodePort = api::valueAt(p, "nodePort");
        if ((type == "NodePort" || type == "LoadBalancer") && nodePort && nodePort->is_int64())
          want["0.0.0.0:" + std::to_string(nodePort->get_int64())] = {"0.0.0.0", int(nodePort->get_int64()), ns, name, api::stringAt(p, "name"), affinity};
      }
  }
  std::lock_guard lock(mutex_);
  network::Netlink nl;
  for (auto it = listeners_.begin(); it != listeners_.end();) {
    if (want.count(it->first)) {
      ++it;
      continue;
    }
    auto l = it->second;
    l->closing = true;
    shutdown(l->fd, SHUT_RDWR);
    if (l->thread.joinable()) l->thread.join();
    close(l->fd);
    if (l->ip != "0.0.0.0" && --addresses_[l->ip] == 0) {
      if (!options_.bridge.empty()) (void)nl.deleteAddress(options_.bridge, l->ip, 32);
      addresses_.erase(l->ip);
    }
    it = listeners_.erase(it);
  }
  for (const auto& [key, w] : want) {
    if (listeners_.count(key)) continue;
    auto l = std::make_shared<Listener>();
    std::tie(l->ip, l->port, l->ns, l->service, l->portName, l->clientAffinity) = w;
    bool ownAddress = l->ip != "0.0.0.0";  // node ports listen on every address the node has
    if (ownAddress && !options_.bridge.empty() && !addresses_.count(l->ip))
      if (Status s = nl.addAddress(options_.bridge, l->ip, 32); !s) {
        log::warn("proxy", "cannot serve cluster IP " + l->ip + ": " + s.error().message);
        continue;
      }
    l->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(l->port));
    inet_pton(AF_INET, l->ip.c_str(), &a.sin_addr);
    if (bind(l->fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(l->fd, 512) != 0) {
      log::warn("proxy", "cannot listen on " + key + " for service " + l->ns + "/" + l->service + ": " + std::strerror(errno));
      close(l->fd);
      if (ownAddress && !addresses_.count(l->ip) && !options_.bridge.empty()) (void)nl.deleteAddress(options_.bridge, l->ip, 32);
      continue;
    }
    if (ownAddress) ++addresses_[l->ip];
    l->thread = std::thread([this, l] { acceptLoop(l); });
    listeners_[key] = l;
  }
}

void ServiceProxy::acceptLoop(const std::shared_ptr<Listener>& l) {
  std::string service = l->ns + "/" + l->service;
  while (!l->closing && !stopping_) {
    sockaddr_in peer{};
    socklen_t peerLen = sizeof peer;
    int client = accept4(l->fd, reinterpret_cast<sockaddr*>(&peer), &peerLen, SOCK_CLOEXEC);
    if (client < 0) {
      if (l->closing || stopping_) return;
      if (errno == EMFILE || errno == ENFILE) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    int one = 1;
    setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::vector<std::pair<std::string, int>> targets;
    if (auto ep = endpoints_.get(l->ns, l->service)) targets = readyEndpoints(*ep, l->portName);
    if (targets.empty()) {
      connectionsCounter(service, "no_endpoints").inc();
      reset(client);
      continue;
    }
    // Round robin, or the same endpoint for the same client address with ClientIP affinity.
    uint64_t first = l->clientAffinity ? std::hash<uint32_t>{}(peer.sin_addr.s_addr) : l->next++;
    ++connections_;
    std::thread([this, client, targets, first, service] {
      int upstream = -1;
      // Round robin; a target that refuses is skipped for the next one.
      for (size_t i = 0; i < targets.size() && upstream < 0; ++i) {
        const auto& [ip, port] = targets[(first + i) % targets.size()];
        upstream = connectTo(ip, port);
      }
      if (upstream < 0) {
        connectionsCounter(service, "upstream_failed").inc();
        reset(client);
      } else {
        connectionsCounter(service, "forwarded").inc();
        pump(client, upstream);
        close(upstream);
        close(client);
      }
      --connections_;
    }).detach();
  }
}

}  // namespace skiff::proxy
