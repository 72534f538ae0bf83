// The node proxy as the platform runs it: watches Services, Endpoints, Pods and the Gateway API
// kinds, rebuilds the route table when they change (coalescing bursts), hands it to the data
// plane (http_proxy.h), keeps cluster IPs on the node bridge, and writes Gateway API status.
#pragma once
#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "client/client.h"
#include "common/result.h"
#include "client/informer.h"
#include "proxy/http_proxy.h"
#include "proxy/ingress.h"
#include "proxy/route_builder.h"

namespace skiff::proxy {

struct NodeProxyOptions {
  std::string bridge;  // cluster IPs are added here as /32s (empty: they are local already, 127/8)
  ProxyOptions data;
  bool writeStatus = true;  // Gateway, GatewayClass and route status (one node writes it)
  RouteBuilder::HostPortFn hostPort;
  MeshOptions mesh;  // mTLS to other nodes' proxies (off without a node name and an issuer)
  IngressPorts ingress;        // where Ingresses are served (proxy/ingress.h)
  std::string ingressAddress;  // what their status.loadBalancer shows: the node's address
};

struct NodeProxyInformers {
  client::Informer &services, &endpoints, &pods, &gatewayClasses, &gateways, &httpRoutes, &authorizationPolicies, &nodes;
  client::Informer &secrets, &referenceGrants;  // HTTPS Gateway listeners' certificates; cross-namespace grants
  client::Informer& namespaces;  // labels, for Gateway listeners' namespace selectors
  client::Informer &grpcRoutes, &tlsRoutes, &tcpRoutes, &udpRoutes;
  client::Informer &ingresses, &ingressClasses;
};

class NodeProxy {
 public:
  NodeProxy(client::Client& client, NodeProxyInformers informers, NodeProxyOptions options);
  ~NodeProxy();
  Status start();
  void stop();
  HttpProxy& data() { return data_; }
  // Builds and installs a table now (tests, benchmarks); returns the build time.
  std::chrono::microseconds rebuild();
  // Requests per second each pod ("ns/name") has answered through this proxy, over the last 5 s
  // or more (the HorizontalPodAutoscaler's http_requests_per_second).
  std::map<std::string, double> podRequestRates();

 private:
  void loop();
  void syncAddresses(const RouteTable& table);
  void writeIngressStatus(const IngressObjects& ingress);
  void writeStatus(const BuildResult& result);

  client::Client& client_;
  NodeProxyInformers inf_;
  NodeProxyOptions options_;
  HttpProxy data_;
  RouteBuilder builder_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool dirty_ = true;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::set<std::string> addresses_;  // cluster IPs this proxy added to the bridge
  std::string lastMeshError_;
  std::mutex buildMutex_;
  std::shared_ptr<const RouteTable> current_;  // the last table built (under buildMutex_)
  std::mutex ratesMutex_;
  std::map<std::string, uint64_t> lastCounts_;
  std::map<std::string, double> rates_;
  Clock::time_point lastRates_{};
};

}  // namespace skiff::proxy
