// How the API server reaches the node servers (the kubelet's port, src/agent/node_server.h):
// a node's address is the InternalIP on its Node object and its port
// status.daemonEndpoints.kubeletEndpoint.Port, as kube-apiserver finds kubelets. Calls are TLS
// both ways: the node's serving certificate must chain to the cluster CA and name that address,
// and the API server presents its client certificate (CN kube-apiserver-kubelet-client).
//
// Threading: every call opens its own connection; the client certificate is shared under a mutex.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "apiserver/registry.h"
#include "common/result.h"
#include "http/http.h"
#include "pki/pki.h"

namespace skiff::apiserver {

struct NodeEndpoint {
  std::string node, address;
  uint16_t port = 0;
};

// What one node's Summary API said, reduced to what metrics.k8s.io and the HPA read.
struct ContainerUsage {
  std::string name;
  double cpuCores = 0;
  uint64_t memoryWorkingSet = 0;
};
struct PodUsage {
  std::string ns, name;
  std::vector<ContainerUsage> containers;
  double cpuCores = 0;
  uint64_t memoryWorkingSet = 0;
};
struct NodeUsage {
  std::string node;
  double cpuCores = 0;
  uint64_t memoryWorkingSet = 0;
  std::vector<PodUsage> pods;
};
// Parses a /stats/summary body.
Result<NodeUsage> parseSummary(const std::string& body);

// The node proxy's request figures of one node (/skiff/v1/proxy).
struct NodeRequests {
  std::map<std::string, double> podRequestRates;  // "ns/pod" -> requests per second
  uint64_t requests = 0, errors = 0;
};
Result<NodeRequests> parseNodeRequests(const std::string& body);

// Prometheus text from several nodes as one exposition: each family's HELP and TYPE once.
std::string mergeExpositions(const std::vector<std::string>& texts);

struct NodeClientOptions {
  std::string caPem;  // node serving certificates must chain to it
  // The API server's client certificate; asked again after `certificateRefresh`.
  std::function<Result<pki::Certificate>()> clientCertificate;
  std::chrono::seconds certificateRefresh{3600};
};

class NodeClient {
 public:
  NodeClient(Registry& registry, NodeClientOptions options) : registry_(registry), options_(std::move(options)) {}

  Result<NodeEndpoint> endpoint(const std::string& node) const;
  // Answers `ex` with what the node's server answers to GET `target`: the whole body, or with
  // `streaming` a body relayed as it comes, or for a WebSocket upgrade both directions relayed
  // message by message. 503 when the node cannot be reached, with the node and address in the message.
  void forward(http::Exchange& ex, const std::string& node, const std::string& target, bool streaming);
  Result<http::ClientResponse> get(const std::string& node, const std::string& target);
  // Every node with a node server, asked in parallel for `target`; nodes that fail are logged and left out.
  std::map<std::string, http::ClientResponse> getFromAll(const std::string& target);
  std::vector<NodeUsage> usage();
  NodeRequests requests();  // summed over nodes

 private:
  // Clients are kept per node address between calls: a kept-alive connection (and the parsed
  // CA and certificate) saves a TLS handshake per request.
  class Lease;
  Result<Lease> lease(const std::string& node);
  void giveBack(const std::string& key, std::unique_ptr<http::Client> client);
  Result<pki::Certificate> clientCertificate();
  void relayStream(http::Exchange& ex, http::Client& client, const std::string& node, const std::string& target);
  void relayWebSocket(http::Exchange& ex, http::Client& client, const std::string& node, const std::string& target);

  Registry& registry_;
  NodeClientOptions options_;
  std::mutex mutex_;
  std::optional<pki::Certificate> certificate_;
  std::chrono::steady_clock::time_point certificateAt_;
  std::mutex poolMutex_;
  std::multimap<std::string, std::unique_ptr<http::Client>> idle_;  // "address:port" -> clients
};

}  // namespace skiff::apiserver
