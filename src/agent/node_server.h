// The node server: what the kubelet serves on :10250, for the API server to reach this node's
// containers (logs, exec) and usage (stats, metrics) from any machine.
//
//   GET  /healthz                                  ok
//   GET  /pods                                     PodList of the pods bound to this node
//   GET  /containerLogs/{ns}/{pod}/{container}     follow, previous, tailLines, limitBytes
//   GET  /exec/{ns}/{pod}/{container}?command=...  WebSocket, v5/v4.channel.k8s.io (also POST)
//   GET  /attach/{ns}/{pod}/{container}            WebSocket: the container's output from now on
//   GET  /stats/summary                            the kubelet Summary API (stats/v1alpha1)
//   GET  /metrics/resource, /metrics/cadvisor      Prometheus text
//   GET  /skiff/v1/proxy                           the node proxy's per-pod request rates and totals
//
// Every request but /healthz must come from the API server (a client certificate signed by the
// cluster CA with CN kube-apiserver-kubelet-client) or carry the admin token: 401 when it proves
// no identity, 403 when the identity is not allowed.
//
// It sees the agent only through NodeView (function objects), so it is tested over fixed data
// and real processes without a NodeAgent. Threading: the HTTP server's workers; exec and log
// follows hold a thread each for as long as they last.
#pragma once
#include <boost/json/value.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "http/http.h"
#include "pki/pki.h"
#include "pki/renewal.h"
#include "runtime/runtime.h"

namespace skiff::agent {

struct ContainerSample {
  std::string ns, pod, container;
  double cpuCores = 0;  // rate over the last sampling window
  uint64_t cpuUsageNanos = 0;
  uint64_t memoryWorkingSet = 0, memoryUsage = 0;
  int64_t memoryLimit = 0;
  uint64_t ioReadBytes = 0, ioWriteBytes = 0;
};

struct PodNetworkSample {
  std::string ns, pod;
  uint64_t receiveBytes = 0, transmitBytes = 0, receivePackets = 0, transmitPackets = 0;
};

struct NodeUsageSample {
  double cpuCores = 0;
  uint64_t memoryWorkingSet = 0;
};

// The node proxy's view of requests to this node's pods.
struct RequestSample {
  std::map<std::string, double> podRequestRates;  // "ns/pod" -> requests per second
  uint64_t requests = 0, errors = 0;              // totals since start
};

using PodObject = std::shared_ptr<const boost::json::value>;

struct NodeView {
  std::function<Result<std::string>(const std::string& ns, const std::string& pod, const std::string& container, bool previous)> logPath;
  std::function<bool(const std::string& ns, const std::string& pod, const std::string& container)> running;
  std::function<Result<int>(const std::string& ns, const std::string& pod, uint16_t port)> dialPod;  // port-forward
  std::function<Result<runtime::ExecProcess>(const std::string& ns, const std::string& pod, const std::string& container,
                                             const std::vector<std::string>& command, bool withStdin, bool tty)>
      startExec;
  std::function<std::vector<ContainerSample>()> containers;
  std::function<std::vector<PodNetworkSample>()> networks;
  std::function<NodeUsageSample()> node;
  std::function<std::vector<PodObject>()> pods;  // bound to this node
  std::function<RequestSample()> requests;        // null: no node proxy
};

// The identity the API server presents to node servers (as kube-apiserver's
// --kubelet-client-certificate does).
inline constexpr const char* kApiServerClientName = "kube-apiserver-kubelet-client";
inline constexpr uint16_t kDefaultNodeServerPort = 10250;

struct NodeServerOptions {
  std::string nodeName;
  std::string host = "0.0.0.0";
  uint16_t port = kDefaultNodeServerPort;
  bool fallBackToFreePort = true;  // when `port` is taken, listen on a free one instead of failing
  // The serving certificate for the node's name and addresses: asked at start, and again at
  // 70-90% of each certificate's lifetime (the kubelet's serving-certificate rotation).
  std::function<Result<pki::Certificate>()> certificate;
  std::string clientCaPem;  // client certificates must chain to it
  std::set<std::string> allowedClients{kApiServerClientName};
  std::string adminToken;  // also accepted as a bearer token ("" = none)
};

class NodeServer {
 public:
  NodeServer(NodeView view, NodeServerOptions options);
  ~NodeServer();
  Status start();
  void stop();
  uint16_t port() const;

  // The pieces, public for tests and for the server's own handler.
  http::Admission admit(const http::Request& head) const;
  void handle(http::Exchange& exchange);

 private:
  void serveLogs(http::Exchange& ex, const std::vector<std::string>& parts);
  void serveExec(http::Exchange& ex, const std::vector<std::string>& parts);
  void serveAttach(http::Exchange& ex, const std::vector<std::string>& parts);
  void servePortForward(http::Exchange& ex, const std::vector<std::string>& parts);
  void serveSummary(http::Exchange& ex);
  void serveResourceMetrics(http::Exchange& ex);
  void serveCadvisorMetrics(http::Exchange& ex);
  void servePods(http::Exchange& ex);
  void serveRequests(http::Exchange& ex);

  NodeView view_;
  NodeServerOptions options_;
  std::unique_ptr<http::Server> server_;
  std::unique_ptr<pki::CertificateRenewer> renewer_;
};

// The lines of `data` from the n-th last on (tailLines).
std::string lastLines(const std::string& data, long n);

}  // namespace skiff::agent
