// The node's DNS server (the agent's CoreDNS): answers cluster names from the informers' Services
// and Pods (cluster_resolver.h) over UDP and TCP, and forwards every other name to the host's
// resolvers (from /etc/resolv.conf, as CoreDNS's `forward . /etc/resolv.conf` does). Pods'
// resolv.conf points here (the node bridge's address) with the usual search path.
//
// Threading: one thread per protocol reads queries; cluster answers are computed inline (an
// informer lookup of one Service or one namespace's pods), forwarded queries each get a short-lived thread (at most 64 at once).
#pragma once
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "dns/cluster_resolver.h"

namespace skiff::dns {

struct DnsServerOptions {
  std::string address;  // e.g. the bridge gateway
  uint16_t port = 53;
  std::string domain = "cluster.local";
  std::vector<std::string> upstreams;  // "ip" or "ip:port"; empty: read /etc/resolv.conf
};

class DnsServer {
 public:
  DnsServer(DnsServerOptions options, ClusterView cluster);
  ~DnsServer();
  Status start();
  void stop();
  uint16_t port() const { return port_; }
  // The answer to one query packet (what both protocols send back); forwards when needed.
  std::string answer(std::string_view packet);

 private:
  void serveUdp();
  void serveTcp();
  std::string forward(std::string_view packet, bool overTcp);

  DnsServerOptions options_;
  ClusterView cluster_;
  int udp_ = -1, tcp_ = -1;
  uint16_t port_ = 0;
  std::thread udpThread_, tcpThread_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> inFlight_{0};
};

// Nameservers from a resolv.conf ("ip" entries), skipping `exclude`.
std::vector<std::string> resolvConfNameservers(const std::string& path, const std::string& exclude);

}  // namespace skiff::dns
