// The node's service proxy, first increment: every Service's cluster IP answers on this node, so
// pods (through the bridge) and the node itself reach `clusterIP:port` and are forwarded over TCP
// to a ready endpoint (round robin, or by client address with sessionAffinity ClientIP; a service
// without ready endpoints refuses the connection, as kube-proxy's REJECT does). NodePort and
// LoadBalancer services also answer on their node port on every node address. Cluster IPs are added as /32 addresses on the node bridge, so no
// iptables rules are needed; the proxy listens on each (IP, port).
//
// Not yet (the networking issue): HTTP awareness, UDP, affinity timeouts, the thread-per-core
// event loop. Threading for now: one reconcile thread, one accept thread per
// service port, one thread per connection copying both ways with poll().
#pragma once
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "controller/informer.h"

namespace skiff::proxy {

struct ServiceProxyOptions {
  std::string bridge;  // cluster IPs are added here (empty: addresses are already local, e.g. 127/8)
};

// Ready endpoints (ip, port) of a service port, from its Endpoints object.
std::vector<std::pair<std::string, int>> readyEndpoints(const boost::json::value& endpoints, const std::string& portName);

class ServiceProxy {
 public:
  ServiceProxy(controller::Informer& services, controller::Informer& endpoints, ServiceProxyOptions options);
  ~ServiceProxy();
  Status start();
  void stop();

 private:
  struct Listener;
  void reconcileLoop();
  void reconcile();
  void acceptLoop(const std::shared_ptr<Listener>& l);

  controller::Informer& services_;
  controller::Informer& endpoints_;
  ServiceProxyOptions options_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Listener>> listeners_;  // "ip:port"
  std::map<std::string, int> addresses_;                        // cluster IP -> listeners using it
  std::thread reconciler_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
};

}  // namespace skiff::proxy
