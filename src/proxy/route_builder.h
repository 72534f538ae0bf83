// Turns Services, Endpoints, Pods, GatewayClasses, Gateways and routes (HTTPRoute, GRPCRoute,
// TLSRoute, TCPRoute, UDPRoute) into the proxy's RouteTable, and works out the status Gateway API
// asks for on each Gateway and route.
//
// Services: every cluster IP port gets a listener; ports named `http`/`http-*` or with
// appProtocol `http` are routed at L7 (retries, metrics, traceparent...), others are tunnelled as
// TCP. NodePort/LoadBalancer ports also listen on the node's port. Routes attach to a Gateway of
// class `skiff` (or of a GatewayClass whose controllerName is skiff.dev/gateway-controller);
// HTTPRoutes and GRPCRoutes also to a Service (GAMMA), whose own route stays the fallback.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "common/result.h"
#include "pki/pki.h"
#include "proxy/gateway_tls.h"
#include "proxy/mesh_tls.h"
#include "proxy/routes.h"

namespace skiff::proxy {

using ObjectList = std::vector<std::shared_ptr<const boost::json::value>>;

struct RouteSources {
  ObjectList services, endpoints, pods, gatewayClasses, gateways, httpRoutes, authorizationPolicies, nodes;
  ObjectList secrets, referenceGrants;  // certificates of HTTPS Gateway listeners; cross-namespace grants
  ObjectList namespaces;  // their labels, for Gateway listeners that take routes by namespace selector
  ObjectList grpcRoutes, tlsRoutes, tcpRoutes, udpRoutes;
};

// The mesh as this node takes part in it (mesh_tls.h). Off while `nodeName` or `issue` is empty.
struct MeshOptions {
  std::string nodeName;
  int port = 15008;  // every node's inbound mTLS port
  std::string trustDomain = "cluster.local";
  std::chrono::seconds lifetime{24 * 3600};  // of each certificate; renewed at half of it
  std::function<Result<pki::Identity>(const std::string& spiffeId, std::chrono::seconds lifetime)> issue;
};

inline std::string nodeSpiffeId(const std::string& trustDomain, const std::string& node) { return "spiffe://" + trustDomain + "/node/" + node; }

struct BuildResult {
  std::shared_ptr<RouteTable> table;
  // Desired `status` per object, keyed "ns/name" (GatewayClasses by name); routes by kind
  // ("HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute") first.
  std::map<std::string, boost::json::value> gatewayClassStatus, gatewayStatus;
  std::map<std::string, std::map<std::string, boost::json::value>> routeStatus;
};

inline constexpr const char* kGatewayController = "skiff.dev/gateway-controller";

class RouteBuilder {
 public:
  // With the process runtime pods share the host's network: the port a container asked for may
  // have been moved. `hostPort(ns, pod, port)` says where it really listens (0 = as declared).
  using HostPortFn = std::function<int(const std::string& ns, const std::string& pod, int port)>;
  explicit RouteBuilder(HostPortFn hostPort = nullptr) : hostPort_(std::move(hostPort)) {}

  BuildResult build(const RouteSources& sources, Clock::time_point now);
  void setMesh(MeshOptions options) { mesh_ = std::move(options); }
  // When a mesh certificate is due for renewal: a build from then on renews it.
  Clock::time_point nextRenewal() const { return nextRenewal_; }
  // Why the last build could not issue mesh credentials ("" when it could).
  const std::string& meshError() const { return meshError_; }

 private:
  // Credentials for the node and for the service accounts of its pods, renewed at half life;
  // the same MeshTls while nothing changed.
  std::shared_ptr<const MeshTls> meshCredentials(const std::set<std::string>& workloadIds, Clock::time_point now);

  HostPortFn hostPort_;
  MeshOptions mesh_;
  struct HeldIdentity {
    pki::Identity identity;
    Clock::time_point renewAt;
  };
  std::map<std::string, HeldIdentity> identities_;  // by SPIFFE id
  std::shared_ptr<const MeshTls> meshTls_;
  uint64_t meshGeneration_ = 0;
  Clock::time_point nextRenewal_ = Clock::time_point::max();
  std::string meshError_;
  // HTTPS listeners' TLS contexts, kept while their certificates stay the same: by listener key,
  // (fingerprint of the certificates, terminator).
  std::map<std::string, std::pair<uint64_t, std::shared_ptr<const TlsTerminator>>> tlsByListener_;
  uint64_t version_ = 0;
  // State that outlives one table (request counts, ejections, slow start), by cluster and endpoint.
  std::map<std::string, std::shared_ptr<ClusterState>> clusterStates_;
  std::map<std::string, std::shared_ptr<EndpointState>> endpointStates_;
};

}  // namespace skiff::proxy
