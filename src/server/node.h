// Node: the wiring of one machine's share of skiff — the agent with its container runtime, the
// pod network, the node DNS server and the node proxy. It meets the control plane only through a
// client::Client and the informers made on it, so the same wiring runs inside `skiff up` (an
// in-process client) and as `skiff agent` on another machine (HTTPS to the servers).
#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "client/informer.h"
#include "common/result.h"
#include "pki/pki.h"

namespace skiff::agent { class NodeAgent; }
namespace skiff::image { class ImageStore; }
namespace skiff::proxy { class NodeProxy; }
namespace skiff::observe { class SpanExporter; }

namespace skiff::server {

struct NodeOptions {
  std::string dataDir = ".skiff";
  std::string nodeName;  // default: the host name
  std::string nodeIp;    // the node's InternalIP; "" = the default-route interface's address (127.0.0.1 with --runtime process)
  uint16_t nodeServerPort = 10250;  // the node server (the kubelet's port); a free one when taken, 0 = any
  bool controlPlane = false;  // the control plane runs on this machine too (`skiff up`)
  std::string agentId;  // tells two agents claiming one node name apart (see server/agent.h)
  // Container runtime: "native" (default as root), "oci" (runc) or "process".
  std::string runtime;
  // Isolating runtimes: the node's pod range. "" = the one the control plane's node IPAM writes
  // into this Node's spec.podCIDR (the node waits for it); given (--pod-cidr), it goes into a
  // new Node's spec, and a Node that already has a range keeps its own.
  std::string podCidr;
  std::string bridge = "skiff0";
  std::chrono::milliseconds leaseRenewInterval{10000};
  std::chrono::milliseconds restartBackoff{10000};
  std::chrono::milliseconds storageCheckInterval{5000};
  uint64_t maxLogBytes = 10 * 1024 * 1024;
  int proxyWorkers = 0;  // node proxy worker threads; 0 = one per core
  int ingressHttpPort = 80, ingressHttpsPort = 443;  // where the node serves Ingresses (0 = off)
  int meshPort = 15008;  // the node proxy's mTLS port for other nodes' proxies; 0 = no mesh
  std::chrono::seconds meshCertificateLifetime{24 * 3600};
  std::string accessLog;  // "" = DATA/logs/proxy-access.log, "off" = none
  // What the control plane hands the node: the cluster CA (pods' ca.crt), service-account tokens
  // for pods (ns, serviceAccount, pod, podUid, seconds, audience) and the mesh's workload
  // certificates (SPIFFE id, lifetime). Null: pods get no tokens / the mesh is off.
  std::string caPem;
  std::function<std::string(const std::string&, const std::string&, const std::string&, const std::string&, int64_t,
                            const std::string&)>
      issueToken;
  std::function<Result<pki::Identity>(const std::string&, std::chrono::seconds)> issueMeshCertificate;
  // The node server (the kubelet's port): its serving certificate for (node name, node IP), the CA
  // its callers' client certificates chain to, and a bearer token it also accepts (""= none).
  // Null certificate: no node server (logs/exec of this node's pods are unavailable).
  std::function<Result<pki::Certificate>(const std::string&, const std::string&)> nodeServerCertificate;
  std::string clientCaPem;
  std::string adminToken;
  observe::SpanExporter* spans = nullptr;
};

class Node {
 public:
  // Builds the node's components and asks `informers` for what they watch; they run once
  // start() is called after the informers started. `podsOnNode` is the informer of the pods
  // bound to this node (in-process it may be the cluster-wide one).
  static Result<std::unique_ptr<Node>> create(const NodeOptions& options, client::Client& client, client::InformerSet& informers,
                                              client::Informer& podsOnNode);
  virtual ~Node() = default;
  // Registers the Node, waits for its pod range (isolating runtimes; until `stopRequested` says
  // to give up), sets up the bridge, DNS and overlay, then runs the proxy and the agent.
  virtual Status start(const std::function<bool()>& stopRequested) = 0;
  virtual void stop() = 0;
  virtual agent::NodeAgent& agent() = 0;
  virtual proxy::NodeProxy* proxy() = 0;
  virtual image::ImageStore* images() = 0;  // null with the process runtime
};

}  // namespace skiff::server
