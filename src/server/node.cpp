#include "server/node.h"

#include "api/selector.h"

#include <unistd.h>

#include <filesystem>
#include <thread>

#include "agent/node_agent.h"
#include "agent/node_server.h"
#include "common/log.h"
#include "dns/dns_server.h"
#include "image/image_store.h"
#include "network/node_addressing.h"
#include "network/overlay_controller.h"
#include "network/pod_network.h"
#include "observe/otlp.h"
#include "proxy/node_proxy.h"
#include "runtime/runtime.h"

namespace skiff::server {
namespace fs = std::filesystem;
namespace {

class NodeImpl final : public Node {
 public:
  ~NodeImpl() override { stop(); }
  Status start(const std::function<bool()>& stopRequested) override {
    // The Node comes first: a node server certificate from the CSR API is approved only for the
    // addresses the Node shows. Its port then goes on the Node.
    if (Status s = agent_->registerNode(); !s) return s.error();
    if (nodeServer_) {
      if (Status s = nodeServer_->start(); !s) return s.error();
      agent_->publishNodeServer(nodeServer_->port());
      if (Status s = agent_->registerNode(); !s) return s.error();
    }
    if (network_)
      if (Status s = startPodNetwork(stopRequested); !s) return s.error();
    if (proxy_)
      if (Status s = proxy_->start(); !s) return s.error();
    return agent_->start();
  }
  void stop() override {
    if (overlay_) overlay_->stop();
    if (nodeServer_) nodeServer_->stop();
    if (agent_) agent_->stop();
    if (dns_) dns_->stop();
    if (proxy_) proxy_->stop();
  }
  agent::NodeAgent& agent() override { return *agent_; }
  proxy::NodeProxy* proxy() override { return proxy_.get(); }
  image::ImageStore* images() override { return images_.get(); }

  Result<std::unique_ptr<runtime::Runtime>> makeRuntime(const NodeOptions& options, const std::string& name,
                                                         agent::AgentOptions& agentOptions, client::InformerSet& informers) {
    if (name == "process") return runtime::makeProcessRuntime();
    if (name != "native" && name != "oci") return Error::badRequest("unknown runtime \"" + name + "\" (choose native, oci or process)");
    if (geteuid() != 0)
      return Error::badRequest("the " + name + " runtime needs root (namespaces, mounts, a bridge); run as root or use --runtime process");
    images_ = std::make_unique<image::ImageStore>(options.dataDir + "/images");
    if (Status s = images_->open(); !s) return s.error();
    network_ = std::make_unique<network::PodNetwork>(network::PodNetworkOptions{options.dataDir + "/network", options.bridge});
    agentOptions.images = images_.get();
    agentOptions.network = network_.get();
    agentOptions.podCidr = options.podCidr;
    // What start() reads once the pod range is known (informers are asked for before they start).
    nodes_ = &informers.get("v1", "Node");
    services_ = &informers.get("v1", "Service");
    pods_ = &informers.get("v1", "Pod");
    bridge_ = options.bridge;
    podCidr_ = options.podCidr;
    if (name == "native") return runtime::makeNativeRuntime();
    return runtime::makeOciRuntime(options.dataDir + "/runc");
  }

  // This node's range from its Node (the control plane's node IPAM writes it moments after the
  // Node is registered).
  Result<network::Ipv4Cidr> waitForPodCidr(const std::function<bool()>& stopRequested) {
    auto lastLog = std::chrono::steady_clock::now();
    for (;;) {
      if (client::ObjectPtr node = nodes_->get("", agent_->nodeName())) {
        auto n = network::nodeAddressingOf(*node);
        if (!n.podCidrText.empty() && !n.podCidr)
          return Error::badRequest("node " + agent_->nodeName() + " has spec.podCIDR \"" + n.podCidrText + "\", which is not an IPv4 range");
        if (n.podCidr) {
          if (!podCidr_.empty() && podCidr_ != n.podCidrText)
            log::warn("agent", "--pod-cidr " + podCidr_ + " ignored: node " + agent_->nodeName() + " already has the range " + n.podCidrText);
          return *n.podCidr;
        }
      }
      if (stopRequested()) return Error::unavailable("node " + agent_->nodeName() + " got no pod range (spec.podCIDR) from the control plane");
      if (std::chrono::steady_clock::now() - lastLog > std::chrono::seconds(5)) {
        log::warn("agent", "waiting for the control plane to give node " + agent_->nodeName() +
                               " a pod range (spec.podCIDR); its node IPAM may have no range left (--cluster-cidr)");
        lastLog = std::chrono::steady_clock::now();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  // The bridge on this node's range, pods' MTU from the overlay, the node DNS server, and the
  // routes to other nodes' ranges.
  Status startPodNetwork(const std::function<bool()>& stopRequested) {
    auto cidr = waitForPodCidr(stopRequested);
    if (!cidr) return cidr.error();
    auto localIp = network::parseIpv4(agent_->nodeIp());
    if (!localIp) return Error::badRequest("the node address " + agent_->nodeIp() + ": " + localIp.error().message);
    auto overlay = std::make_unique<network::Overlay>(network::OverlayOptions{}, *cidr, *localIp);
    auto mtu = overlay->podMtu();
    if (!mtu) log::warn("overlay", mtu.error().message + "; pods keep the default MTU");
    if (Status s = network_->configure(cidr->str(), mtu ? *mtu : 0); !s) {
      Error e = Error::unavailable("setting up the node bridge " + bridge_ + ": " + s.error().message);
      (void)agent_->reportNetwork(false, e.message);
      return e;
    }
    log::info("agent", "node " + agent_->nodeName() + " runs pods in " + cidr->str() + " on " + bridge_);
    if (Status s = agent_->reportNetwork(true, "pod network " + cidr->str() + " on bridge " + bridge_ + " with VXLAN routes to the other nodes"); !s)
      log::warn("agent", "reporting the NetworkUnavailable condition: " + s.error().message);
    startDns();
    overlay_->start(std::move(overlay), *cidr, *localIp);
    return {};
  }

  // The node DNS server on the bridge address, answering from the informers. Without port 53
  // (another DNS server holds it on every address) pods keep the host's resolvers.
  void startDns() {
    auto& services = *services_;
    auto& pods = *pods_;
    dns_ = std::make_unique<dns::DnsServer>(
        dns::DnsServerOptions{network_->gateway(), 53, "cluster.local", {}},
        dns::ClusterView{[&services](const std::string& ns, const std::string& name) { return services.get(ns, name); },
                         [&pods](const std::string& ns) { return pods.list(ns); }, [&services] { return services.list(); },
                         [&pods] { return pods.list(); }});
    if (Status s = dns_->start(); !s) {
      log::warn("dns", s.error().message + "; pods will use the host's resolv.conf");
      dns_.reset();
    } else {
      agent_->useClusterDns(network_->gateway());
    }
  }

  // The node proxy: cluster IPs (as /32s on the bridge with isolating runtimes; loopback
  // addresses are local already), node ports and Gateways, forwarded to ready endpoints.
  Status makeProxy(const NodeOptions& options, const std::string& runtimeName, client::Client& client,
                   client::InformerSet& informers) {
    proxy::NodeProxyOptions proxyOptions;
    proxyOptions.bridge = runtimeName == "process" ? "" : options.bridge;
    proxyOptions.data.workers = options.proxyWorkers;
    if (options.accessLog != "off") {
      std::string path = options.accessLog.empty() ? options.dataDir + "/logs/proxy-access.log" : options.accessLog;
      std::error_code ec;
      fs::create_directories(fs::path(path).parent_path(), ec);
      proxyOptions.data.accessLogPath = path;
    }
    if (options.meshPort > 0 && options.issueMeshCertificate) {
      // The mesh: this node's proxy holds identities for its pods' service accounts and speaks
      // mTLS to other nodes' proxies (proxy/mesh_tls.h).
      proxyOptions.mesh.nodeName = agent_->nodeName();
      proxyOptions.mesh.port = options.meshPort;
      proxyOptions.mesh.lifetime = options.meshCertificateLifetime;
      proxyOptions.mesh.issue = options.issueMeshCertificate;
    }
    proxyOptions.ingress = {options.ingressHttpPort, options.ingressHttpsPort};
    proxyOptions.ingressAddress = agent_->nodeIp();
    if (runtimeName == "process")
      proxyOptions.hostPort = [agent = agent_.get()](const std::string& ns, const std::string& pod, int port) { return agent->hostPort(ns, pod, port); };
    auto i = [&](const char* apiVersion, const char* kind) -> client::Informer& { return informers.get(apiVersion, kind); };
    proxy_ = std::make_unique<proxy::NodeProxy>(
        client,
        proxy::NodeProxyInformers{i("v1", "Service"), i("v1", "Endpoints"), i("v1", "Pod"), i("gateway.networking.k8s.io/v1", "GatewayClass"),
                                  i("gateway.networking.k8s.io/v1", "Gateway"), i("gateway.networking.k8s.io/v1", "HTTPRoute"),
                                  i("security.istio.io/v1", "AuthorizationPolicy"), i("v1", "Node"),
                                  // Gateway certificates only: a node may list TLS Secrets, not all (auth/authorizer.h).
                                  informers.get("v1", "Secret", {"", {}, *api::FieldSelector::parse("type=kubernetes.io/tls")}, "tls"),
                                  i("gateway.networking.k8s.io/v1beta1", "ReferenceGrant"), i("v1", "Namespace"),
                                  i("gateway.networking.k8s.io/v1", "GRPCRoute"), i("gateway.networking.k8s.io/v1", "TLSRoute"),
                                  i("gateway.networking.k8s.io/v1alpha2", "TCPRoute"), i("gateway.networking.k8s.io/v1alpha2", "UDPRoute"),
                                  i("networking.k8s.io/v1", "Ingress"), i("networking.k8s.io/v1", "IngressClass")},
        proxyOptions);
    if (options.spans)
      proxy_->data().onSpan([spans = options.spans](proxy::SpanRecord&& r) {
        observe::Span s;
        s.traceId = std::move(r.traceId);
        s.spanId = std::move(r.spanId);
        s.parentSpanId = std::move(r.parentSpanId);
        s.name = r.method + " " + r.name;
        s.startUnixNanos = r.startUnixNanos;
        s.endUnixNanos = r.endUnixNanos;
        s.error = r.status >= 500;
        s.attributes = {{"http.request.method", r.method}, {"url.path", r.path}, {"server.address", r.upstream}, {"skiff.component", "proxy"}};
        s.intAttributes = {{"http.response.status_code", r.status}};
        spans->record(std::move(s));
      });
    return {};
  }

  std::unique_ptr<image::ImageStore> images_;      // isolating runtimes only
  std::unique_ptr<network::PodNetwork> network_;  // isolating runtimes only
  std::unique_ptr<dns::DnsServer> dns_;           // isolating runtimes only
  std::unique_ptr<network::OverlayController> overlay_;  // isolating runtimes only
  client::Informer *nodes_ = nullptr, *services_ = nullptr, *pods_ = nullptr;  // cluster-wide
  std::string bridge_, podCidr_;
  // The node server (the kubelet's port): what the API server relays logs, exec and stats to.
  void makeNodeServer(const NodeOptions& options, client::Informer& podsOnNode) {
    if (!options.nodeServerCertificate) return;
    agent::NodeView view = agent::nodeViewOf(*agent_, podsOnNode);
    if (auto* proxy = proxy_.get())
      view.requests = [proxy] {
        auto [requests, errors] = proxy::requestTotals();
        return agent::RequestSample{proxy->podRequestRates(), uint64_t(requests), uint64_t(errors)};
      };
    agent::NodeServerOptions serverOptions;
    serverOptions.nodeName = agent_->nodeName();
    serverOptions.port = options.nodeServerPort;
    serverOptions.clientCaPem = options.clientCaPem;
    serverOptions.adminToken = options.adminToken;
    serverOptions.certificate = [issue = options.nodeServerCertificate, name = agent_->nodeName(), ip = agent_->nodeIp()] {
      return issue(name, ip);
    };
    nodeServer_ = std::make_unique<agent::NodeServer>(std::move(view), std::move(serverOptions));
  }

  std::unique_ptr<agent::NodeAgent> agent_;
  std::unique_ptr<proxy::NodeProxy> proxy_;
  std::unique_ptr<agent::NodeServer> nodeServer_;
};

}  // namespace

Result<std::unique_ptr<Node>> Node::create(const NodeOptions& options, client::Client& client, client::InformerSet& informers,
                                           client::Informer& podsOnNode) {
  auto node = std::make_unique<NodeImpl>();
  agent::AgentOptions agentOptions;
  agentOptions.nodeName = options.nodeName;
  agentOptions.dataDir = options.dataDir;
  agentOptions.controlPlane = options.controlPlane;
  agentOptions.agentId = options.agentId;
  agentOptions.leaseRenewInterval = options.leaseRenewInterval;
  agentOptions.restartBackoff = options.restartBackoff;
  agentOptions.storageCheckInterval = options.storageCheckInterval;
  agentOptions.maxLogBytes = options.maxLogBytes;
  agentOptions.issueToken = options.issueToken;
  agentOptions.caPem = options.caPem;
  agentOptions.nodeIp = options.nodeIp;
  std::string runtimeName = options.runtime.empty() ? (geteuid() == 0 ? "native" : "process") : options.runtime;
  auto rt = node->makeRuntime(options, runtimeName, agentOptions, informers);
  if (!rt) return rt.error();
  if (agentOptions.nodeIp.empty() && runtimeName == "process") agentOptions.nodeIp = "127.0.0.1";  // pods share the host's loopback
  node->agent_ = std::make_unique<agent::NodeAgent>(client, podsOnNode, std::move(*rt), agentOptions);
  if (node->network_) node->overlay_ = std::make_unique<network::OverlayController>(*node->nodes_, node->agent_->nodeName());
  if (Status s = node->makeProxy(options, runtimeName, client, informers); !s) return s.error();
  node->makeNodeServer(options, podsOnNode);
  return std::unique_ptr<Node>(std::move(node));
}

}  // namespace skiff::server
