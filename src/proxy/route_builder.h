// Turns Services, Endpoints, Pods, GatewayClasses, Gateways and HTTPRoutes into the proxy's
// RouteTable, and works out the status Gateway API asks for on each Gateway and HTTPRoute.
//
// Services: every cluster IP port gets a listener; ports named `http`/`http-*` or with
// appProtocol `http` are routed at L7 (retries, metrics, traceparent...), others are tunnelled as
// TCP. NodePort/LoadBalancer ports also listen on the node's port. HTTPRoutes may attach to a
// Gateway of class `skiff` (or of a GatewayClass whose controllerName is skiff.dev/gateway-controller)
// or to a Service (GAMMA), whose own route stays the fallback.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "proxy/routes.h"

namespace skiff::proxy {

using ObjectList = std::vector<std::shared_ptr<const boost::json::value>>;

struct RouteSources {
  ObjectList services, endpoints, pods, gatewayClasses, gateways, httpRoutes, authorizationPolicies;
};

struct BuildResult {
  std::shared_ptr<RouteTable> table;
  // Desired `status` per object, keyed "ns/name" (GatewayClasses by name).
  std::map<std::string, boost::json::value> gatewayClassStatus, gatewayStatus, routeStatus;
};

inline constexpr const char* kGatewayController = "skiff.dev/gateway-controller";

class RouteBuilder {
 public:
  // With the process runtime pods share the host's network: the port a container asked for may
  // have been moved. `hostPort(ns, pod, port)` says where it really listens (0 = as declared).
  using HostPortFn = std::function<int(const std::string& ns, const std::string& pod, int port)>;
  explicit RouteBuilder(HostPortFn hostPort = nullptr) : hostPort_(std::move(hostPort)) {}

  BuildResult build(const RouteSources& sources, Clock::time_point now);

 private:
  HostPortFn hostPort_;
  uint64_t version_ = 0;
  // State that outlives one table (request counts, ejections, slow start), by cluster and endpoint.
  std::map<std::string, std::shared_ptr<ClusterState>> clusterStates_;
  std::map<std::string, std::shared_ptr<EndpointState>> endpointStates_;
};

}  // namespace skiff::proxy
