#include "server/platform.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <map>
#include <fstream>
#include <random>

#include "api/object.h"
#include "api/resources.h"
#include "apiserver/apiserver.h"
#include "apiserver/registry.h"
#include "cli/kubeconfig.h"
#include "common/files.h"
#include "common/log.h"
#include "agent/node_agent.h"
#include "agent/node_server.h"
#include "apiserver/node_client.h"
#include "agent/simulated_nodes.h"
#include "image/image_api.h"
#include "image/image_store.h"
#include "dns/dns_server.h"
#include "network/pod_network.h"
#include "proxy/node_proxy.h"
#include "runtime/runtime.h"
#include "controller/cronjob_controller.h"
#include "controller/daemonset_controller.h"
#include "controller/deployment_controller.h"
#include "controller/endpoints_controller.h"
#include "controller/job_controller.h"
#include "controller/statefulset_controller.h"
#include "controller/event_recorder.h"
#include "controller/garbage_collector.h"
#include "controller/hpa_controller.h"
#include "controller/informer.h"
#include "controller/namespace_controller.h"
#include "controller/node_lifecycle_controller.h"
#include "controller/replicaset_controller.h"
#include "scheduler/scheduler_controller.h"
#include "http/http.h"
#include "console/console.h"
#include "observe/otlp.h"
#include "pki/pki.h"
#include "store/sqlite/sqlite_store.h"

namespace skiff::server {
namespace fs = std::filesystem;
namespace json = boost::json;
namespace {

// Holds an exclusive flock on DIR/skiff.lock for the life of the process.
class DataDirLock {
 public:
  ~DataDirLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  Status acquire(const std::string& dir) {
    std::string path = dir + "/skiff.lock";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0) return Error::unavailable("cannot open " + path + ": " + std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      char pid[32] = {0};
      ssize_t n = ::pread(fd_, pid, sizeof pid - 1, 0);
      (void)n;
      return Error::unavailable("another skiff (pid " + std::string(pid) + ") is already using " + dir +
                                "; stop it first or pick another --data-dir");
    }
    std::string me = std::to_string(::getpid());
    if (::ftruncate(fd_, 0) == 0 && ::pwrite(fd_, me.data(), me.size(), 0) < 0) {
      // The pid is only informative; the lock is what matters.
    }
    return {};
  }

 private:
  int fd_ = -1;
};

std::string randomToken() {
  std::random_device rd;
  std::string t;
  static const char* hex = "0123456789abcdef";
  for (int i = 0; i < 32; ++i) t += hex[rd() % 16];
  return t;
}

Result<std::string> loadOrCreateToken(const std::string& dir) {
  std::string path = dir + "/token";
  if (std::ifstream in(path); in) {
    std::string t;
    std::getline(in, t);
    if (t.size() >= 16) return t;
    return Error::badRequest(path + " holds no usable token; delete it and restart to get a new one");
  }
  std::string t = randomToken();
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Error::unavailable("cannot write " + path + ": " + std::strerror(errno));
  bool ok = ::write(fd, t.data(), t.size()) == ssize_t(t.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return Error::unavailable("cannot write " + path);
  return t;
}

// The first address of a service range ("10.96.0.0/16" -> "10.96.0.1"), as Kubernetes gives the
// `kubernetes` Service.
std::string firstServiceIp(const std::string& cidr) {
  unsigned a, b, c, d, bits;
  if (std::sscanf(cidr.c_str(), "%u.%u.%u.%u/%u", &a, &b, &c, &d, &bits) != 5) return "";
  uint32_t ip = (a << 24 | b << 16 | c << 8 | d) + 1;
  return std::to_string(ip >> 24) + "." + std::to_string((ip >> 16) & 255) + "." + std::to_string((ip >> 8) & 255) + "." + std::to_string(ip & 255);
}

// Service default/kubernetes (port 443 on the range's first address) and its Endpoints naming
// this API server, so pods reach the API the way they do on any Kubernetes.
Status ensureKubernetesService(apiserver::Registry& registry, const std::string& clusterIp, uint16_t apiPort) {
  const api::ResourceType& svcType = *api::findByKind("v1", "Service");
  const api::ResourceType& epType = *api::findByKind("v1", "Endpoints");
  json::object port{{"name", "https"}, {"port", 443}, {"protocol", "TCP"}, {"targetPort", apiPort}};
  if (auto svc = registry.get(svcType, "default", "kubernetes"); !svc) {
    json::object spec{{"ports", json::array{port}}, {"sessionAffinity", "None"}, {"type", "ClusterIP"}};
    if (!clusterIp.empty()) spec["clusterIP"] = clusterIp;
    json::value obj = json::object{{"metadata", json::object{{"name", "kubernetes"}, {"labels", json::object{{"component", "apiserver"}, {"provider", "kubernetes"}}}}},
                                   {"spec", spec}};
    auto r = registry.create(svcType, "default", obj);
    if (!r && !clusterIp.empty()) {  // the address is taken (an older data dir): any address will do
      obj.as_object()["spec"].as_object().erase("clusterIP");
      r = registry.create(svcType, "default", obj);
    }
    if (!r && r.error().reason != "AlreadyExists") return r.error();
  } else if (api::valueAt(*svc, "spec.ports") && *api::valueAt(*svc, "spec.ports") != json::value(json::array{port})) {
    auto r = registry.patch(svcType, "default", "kubernetes", apiserver::PatchType::Merge, json::object{{"spec", json::object{{"ports", json::array{port}}}}}, "");
    if (!r) return r.error();
  }
  json::value subsets = json::array{json::object{{"addresses", json::array{json::object{{"ip", "127.0.0.1"}}}},
                                                 {"ports", json::array{json::object{{"name", "https"}, {"port", apiPort}, {"protocol", "TCP"}}}}}};
  if (auto ep = registry.get(epType, "default", "kubernetes"); !ep) {
    auto r = registry.create(epType, "default", json::object{{"metadata", json::object{{"name", "kubernetes"}}}, {"subsets", subsets}});
    if (!r && r.error().reason != "AlreadyExists") return r.error();
  } else if (!api::valueAt(*ep, "subsets") || *api::valueAt(*ep, "subsets") != subsets) {
    auto r = registry.patch(epType, "default", "kubernetes", apiserver::PatchType::Merge, json::object{{"subsets", subsets}}, "");
    if (!r) return r.error();
  }
  return {};
}

class PlatformImpl final : public Platform {
 public:
  uint16_t port() const override { return server_->port(); }
  std::string kubeconfigPath() const override { return kubeconfig_; }
  std::string token() const override { return token_; }
  void stop() override {
    if (server_) server_->stop();
    if (history_) history_->stop();
    if (nodeServer_) nodeServer_->stop();
    if (agent_) agent_->stop();
    if (dns_) dns_->stop();
    if (proxy_) proxy_->stop();
    if (simulated_) simulated_->stop();
    if (scheduler_) scheduler_->stop();
    if (deployments_) deployments_->stop();
    if (replicaSets_) replicaSets_->stop();
    if (gc_) gc_->stop();
    if (jobs_) jobs_->stop();
    if (cronJobs_) cronJobs_->stop();
    if (daemonSets_) daemonSets_->stop();
    if (statefulSets_) statefulSets_->stop();
    if (endpoints_) endpoints_->stop();
    if (hpa_) hpa_->stop();
    if (nodeLifecycle_) nodeLifecycle_->stop();
    if (namespaces_) namespaces_->stop();
    for (auto& [name, inf] : informers_) inf->stop();
    if (spans_) spans_->stop();
  }
  ~PlatformImpl() override { stop(); }

  DataDirLock lock_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<apiserver::Registry> registry_;
  std::unique_ptr<apiserver::ApiServer> api_;
  std::unique_ptr<controller::NamespaceController> namespaces_;
  std::map<std::string, std::unique_ptr<controller::Informer>> informers_;
  std::unique_ptr<controller::EventRecorder> schedulerEvents_, rsEvents_, deployEvents_, nodeEvents_;
  std::unique_ptr<scheduler::SchedulerController> scheduler_;
  std::unique_ptr<controller::ReplicaSetController> replicaSets_;
  std::unique_ptr<controller::DeploymentController> deployments_;
  std::unique_ptr<controller::GarbageCollector> gc_;
  std::unique_ptr<controller::JobController> jobs_;
  std::unique_ptr<controller::CronJobController> cronJobs_;
  std::unique_ptr<controller::DaemonSetController> daemonSets_;
  std::unique_ptr<controller::StatefulSetController> statefulSets_;
  std::unique_ptr<controller::EndpointsController> endpoints_;
  std::unique_ptr<controller::HpaController> hpa_;
  std::unique_ptr<controller::EventRecorder> hpaEvents_;
  std::unique_ptr<controller::EventRecorder> stsEvents_;
  std::unique_ptr<controller::EventRecorder> jobEvents_, cronEvents_, dsEvents_;
  std::unique_ptr<agent::SimulatedNodes> simulated_;
  std::unique_ptr<controller::NodeLifecycleController> nodeLifecycle_;
  std::unique_ptr<image::ImageStore> images_;      // isolating runtimes only
  std::unique_ptr<network::PodNetwork> network_;  // isolating runtimes only
  std::unique_ptr<dns::DnsServer> dns_;           // isolating runtimes only
  std::unique_ptr<proxy::NodeProxy> proxy_;
  std::unique_ptr<observe::SpanExporter> spans_;
  std::unique_ptr<console::History> history_;
  std::unique_ptr<apiserver::ServiceAccountTokens> saTokens_;
  std::string caPem_;
  std::unique_ptr<agent::NodeAgent> agent_;
  std::unique_ptr<agent::NodeServer> nodeServer_;
  std::optional<pki::CertificateAuthority> ca_;
  std::unique_ptr<apiserver::NodeClient> nodeClient_;

 public:
  agent::SimulatedNodes* simulated() { return simulated_.get(); }

  // Builds the controllers on shared informers; informers start once every handler is in place.
  Status startControllers(const PlatformOptions& options) {
    auto informer = [&](const char* apiVersion, const char* kind) -> controller::Informer& {
      auto& slot = informers_[kind];
      if (!slot) slot = std::make_unique<controller::Informer>(*registry_, *api::findByKind(apiVersion, kind));
      return *slot;
    };
    auto& pods = informer("v1", "Pod");
    auto& nodes = informer("v1", "Node");
    auto& rs = informer("apps/v1", "ReplicaSet");
    auto& deploys = informer("apps/v1", "Deployment");
    schedulerEvents_ = std::make_unique<controller::EventRecorder>(*registry_, "default-scheduler");
    rsEvents_ = std::make_unique<controller::EventRecorder>(*registry_, "replicaset-controller");
    deployEvents_ = std::make_unique<controller::EventRecorder>(*registry_, "deployment-controller");
    nodeEvents_ = std::make_unique<controller::EventRecorder>(*registry_, "node-controller");
    scheduler_ = std::make_unique<scheduler::SchedulerController>(*registry_, pods, nodes, 4, schedulerEvents_.get());
    replicaSets_ = std::make_unique<controller::ReplicaSetController>(*registry_, rs, pods, rsEvents_.get());
    deployments_ = std::make_unique<controller::DeploymentController>(*registry_, deploys, rs, deployEvents_.get());
    auto& jobInf = informer("batch/v1", "Job");
    auto& cronInf = informer("batch/v1", "CronJob");
    auto& dsInf = informer("apps/v1", "DaemonSet");
    jobEvents_ = std::make_unique<controller::EventRecorder>(*registry_, "job-controller");
    cronEvents_ = std::make_unique<controller::EventRecorder>(*registry_, "cronjob-controller");
    dsEvents_ = std::make_unique<controller::EventRecorder>(*registry_, "daemonset-controller");
    jobs_ = std::make_unique<controller::JobController>(*registry_, jobInf, pods, jobEvents_.get());
    cronJobs_ = std::make_unique<controller::CronJobController>(*registry_, cronInf, jobInf, cronEvents_.get());
    daemonSets_ = std::make_unique<controller::DaemonSetController>(*registry_, dsInf, pods, nodes, dsEvents_.get());
    auto& stsInf = informer("apps/v1", "StatefulSet");
    stsEvents_ = std::make_unique<controller::EventRecorder>(*registry_, "statefulset-controller");
    statefulSets_ = std::make_unique<controller::StatefulSetController>(*registry_, stsInf, pods, stsEvents_.get());
    auto& svcInf = informer("v1", "Service");
    endpoints_ = std::make_unique<controller::EndpointsController>(*registry_, svcInf, pods);
    auto& hpaInf = informer("autoscaling/v2", "HorizontalPodAutoscaler");
    hpaEvents_ = std::make_unique<controller::EventRecorder>(*registry_, "horizontal-pod-autoscaler");
    hpa_ = std::make_unique<controller::HpaController>(*registry_, hpaInf, pods, controller::usageFromNodes(*nodeClient_), hpaEvents_.get());
    gc_ = std::make_unique<controller::GarbageCollector>(
        *registry_, std::vector<controller::Informer*>{&deploys, &rs, &pods, &jobInf, &cronInf, &dsInf, &stsInf});
    auto& leases = informer("coordination.k8s.io/v1", "Lease");
    nodeLifecycle_ = std::make_unique<controller::NodeLifecycleController>(
        *registry_, nodes, leases, pods, controller::NodeLifecycleOptions{options.nodeGracePeriod}, nodeEvents_.get());
    if (options.agent) {
      agent::AgentOptions agentOptions;
      agentOptions.nodeName = options.nodeName;
      agentOptions.nodeIp = options.nodeIp;
      agentOptions.dataDir = options.dataDir;
      agentOptions.leaseRenewInterval = std::min<std::chrono::milliseconds>(std::chrono::milliseconds(10000), options.nodeGracePeriod / 4);
      agentOptions.restartBackoff = options.restartBackoff;
      agentOptions.storageCheckInterval = options.storageCheckInterval;
      agentOptions.maxLogBytes = options.maxLogBytes;
      if (saTokens_) {
        agentOptions.issueToken = [tokens = saTokens_.get()](const std::string& ns, const std::string& sa, const std::string& pod,
                                                             const std::string& uid, int64_t seconds, const std::string& audience) {
          return tokens->issue({ns, sa, pod, uid}, seconds, audience.empty() ? "skiff" : audience);
        };
        agentOptions.caPem = caPem_;
      }
      std::string runtimeName = options.runtime.empty() ? (geteuid() == 0 ? "native" : "process") : options.runtime;
      std::unique_ptr<runtime::Runtime> rt;
      if (runtimeName == "process") {
        rt = runtime::makeProcessRuntime();
      } else if (runtimeName == "native" || runtimeName == "oci") {
        if (geteuid() != 0)
          return Error::badRequest("the " + runtimeName + " runtime needs root (namespaces, mounts, a bridge); run as root or use --runtime process");
        images_ = std::make_unique<image::ImageStore>(options.dataDir + "/images");
        if (Status s = images_->open(); !s) return s.error();
        network_ = std::make_unique<network::PodNetwork>(network::PodNetworkOptions{options.dataDir + "/network", options.bridge, options.podCidr});
        if (Status s = network_->init(); !s) return Error::unavailable("setting up the node bridge " + options.bridge + ": " + s.error().message);
        rt = runtimeName == "native" ? runtime::makeNativeRuntime() : runtime::makeOciRuntime(options.dataDir + "/runc");
        agentOptions.images = images_.get();
        agentOptions.network = network_.get();
        // The node DNS server on the bridge address, answering from the informers.
        auto& svcForDns = informer("v1", "Service");
        dns_ = std::make_unique<dns::DnsServer>(dns::DnsServerOptions{network_->gateway(), 53, "cluster.local", {}},
                                                dns::ClusterView{
                                                    [&svcForDns](const std::string& ns, const std::string& name) { return svcForDns.get(ns, name); },
                                                    [&pods](const std::string& ns) { return pods.list(ns); },
                                                    [&svcForDns] { return svcForDns.list(); }, [&pods] { return pods.list(); }});
        // Without port 53 (another DNS server holds it on every address) pods keep the host's resolvers.
        if (Status s = dns_->start(); !s) {
          log::warn("dns", s.error().message + "; pods will use the host's resolv.conf");
          dns_.reset();
        } else {
          agentOptions.clusterDns = network_->gateway();
        }
      } else {
        return Error::badRequest("unknown runtime \"" + runtimeName + "\" (choose native, oci or process)");
      }
      if (agentOptions.nodeIp.empty() && runtimeName == "process") agentOptions.nodeIp = "127.0.0.1";  // pods share the host's loopback
      agent_ = std::make_unique<agent::NodeAgent>(*registry_, pods, std::move(rt), agentOptions);
      // The node proxy: cluster IPs (as /32s on the bridge with isolating runtimes; loopback
      // addresses are local already), node ports and Gateways, forwarded to ready endpoints.
      proxy::NodeProxyOptions proxyOptions;
      proxyOptions.bridge = runtimeName == "process" ? "" : options.bridge;
      proxyOptions.data.workers = options.proxyWorkers;
      if (options.accessLog != "off") {
        std::string path = options.accessLog.empty() ? options.dataDir + "/logs/proxy-access.log" : options.accessLog;
        std::error_code ec;
        fs::create_directories(fs::path(path).parent_path(), ec);
        proxyOptions.data.accessLogPath = path;
      }
      if (options.meshPort > 0) {
        // The mesh: this node's proxy holds identities for its pods' service accounts, issued by
        // the platform CA, and speaks mTLS to other nodes' proxies (proxy/mesh_tls.h).
        auto ca = pki::CertificateAuthority::open(options.dataDir + "/tls");
        if (!ca) return ca.error();
        proxyOptions.mesh.nodeName = agent_->nodeName();
        proxyOptions.mesh.port = options.meshPort;
        proxyOptions.mesh.lifetime = options.meshCertificateLifetime;
        proxyOptions.mesh.issue = [ca = *ca](const std::string& id, std::chrono::seconds lifetime) { return ca.issue(id, lifetime); };
      }
      if (runtimeName == "process")
        proxyOptions.hostPort = [agent = agent_.get()](const std::string& ns, const std::string& pod, int port) { return agent->hostPort(ns, pod, port); };
      proxy_ = std::make_unique<proxy::NodeProxy>(
          *registry_,
          proxy::NodeProxyInformers{informer("v1", "Service"), informer("v1", "Endpoints"), pods, informer("gateway.networking.k8s.io/v1", "GatewayClass"),
                                    informer("gateway.networking.k8s.io/v1", "Gateway"), informer("gateway.networking.k8s.io/v1", "HTTPRoute"),
                                    informer("security.istio.io/v1", "AuthorizationPolicy"), nodes, informer("v1", "Secret"),
                                    informer("gateway.networking.k8s.io/v1beta1", "ReferenceGrant"), informer("v1", "Namespace"),
                                    informer("gateway.networking.k8s.io/v1", "GRPCRoute"), informer("gateway.networking.k8s.io/v1", "TLSRoute"),
                                    informer("gateway.networking.k8s.io/v1alpha2", "TCPRoute"), informer("gateway.networking.k8s.io/v1alpha2", "UDPRoute")},
          proxyOptions);
      if (spans_)
        proxy_->data().onSpan([spans = spans_.get()](proxy::SpanRecord&& r) {
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
    }
    if (agent_)
      if (Status s = startNodeServer(options, pods); !s) return s.error();
    if (options.simulatedNodes > 0)
      simulated_ = std::make_unique<agent::SimulatedNodes>(
          *registry_, pods,
          agent::SimulatedNodeOptions{options.simulatedNodes, "sim-node-",
                                      std::min<std::chrono::milliseconds>(std::chrono::milliseconds(10000), options.nodeGracePeriod / 4)});
    for (auto& [name, inf] : informers_)
      if (Status s = inf->start(); !s) return s.error();
    if (simulated_)
      if (Status s = simulated_->start(); !s) return s.error();
    if (proxy_)
      if (Status s = proxy_->start(); !s) return s.error();
    if (agent_)
      if (Status s = agent_->start(); !s) return s.error();
    scheduler_->start();
    replicaSets_->start();
    deployments_->start();
    gc_->start();
    jobs_->start();
    cronJobs_->start();
    daemonSets_->start();
    statefulSets_->start();
    endpoints_->start();
    hpa_->start();
    nodeLifecycle_->start();
    return {};
  }
  // The agent's node server (the kubelet's port), its certificate issued by the cluster CA for
  // the node's name and address; the port it got goes on the Node object.
  Status startNodeServer(const PlatformOptions& options, controller::Informer& pods) {
    agent::NodeView view = agent::nodeViewOf(*agent_, pods);
    if (auto* proxy = proxy_.get())
      view.requests = [proxy] {
        auto [requests, errors] = proxy::requestTotals();
        return agent::RequestSample{proxy->podRequestRates(), uint64_t(requests), uint64_t(errors)};
      };
    agent::NodeServerOptions serverOptions;
    serverOptions.nodeName = agent_->nodeName();
    serverOptions.port = options.nodeServerPort;
    serverOptions.clientCaPem = caPem_;
    serverOptions.adminToken = token_;
    serverOptions.certificate = [ca = *ca_, name = agent_->nodeName(), ip = agent_->nodeIp()] {
      return ca.issueCertificate({name, "system:nodes", {name, ip, "127.0.0.1", "localhost"}, true, false, std::chrono::hours(24 * 365)});
    };
    nodeServer_ = std::make_unique<agent::NodeServer>(std::move(view), std::move(serverOptions));
    if (Status s = nodeServer_->start(); !s) return s.error();
    agent_->publishNodeServer(nodeServer_->port());
    return {};
  }
  std::unique_ptr<http::Server> server_;
  std::string kubeconfig_, token_;
};

}  // namespace

Result<std::unique_ptr<Platform>> Platform::start(const PlatformOptions& options) {
  if (Status s = makePrivateDir(options.dataDir); !s) return s.error();
  auto p = std::make_unique<PlatformImpl>();
  if (Status s = p->lock_.acquire(options.dataDir); !s) return s.error();
  auto token = loadOrCreateToken(options.dataDir);
  if (!token) return token.error();
  p->token_ = *token;
  auto store = store::openSqliteStore({options.dataDir + "/store.db"});
  if (!store) return store.error();
  p->store_ = std::move(*store);
  // Pods in their own network namespaces reach cluster IPs through the node; loopback addresses
  // would be their own. Shared-host-network pods (process runtime) use loopback ones.
  std::string effectiveRuntime = options.runtime.empty() ? (geteuid() == 0 ? "native" : "process") : options.runtime;
  std::string serviceCidr = !options.serviceCidr.empty() ? options.serviceCidr
                            : (options.agent && effectiveRuntime != "process") ? "10.96.0.0/16"
                                                                               : "127.19.0.0/16";
  p->registry_ = std::make_unique<apiserver::Registry>(*p->store_, apiserver::RegistryOptions{serviceCidr});
  if (Status s = p->registry_->bootstrap(); !s) return Error::unavailable("cannot create the default namespaces: " + s.error().message);
  p->namespaces_ = std::make_unique<controller::NamespaceController>(*p->registry_);
  if (Status s = p->namespaces_->start(); !s) return Error::unavailable("cannot start the namespace controller: " + s.error().message);
  // The serving certificate also names the in-cluster API address (the `kubernetes` Service).
  std::vector<std::string> hosts;
  if (options.listenHost != "0.0.0.0" && options.listenHost != "::") hosts.push_back(options.listenHost);
  std::string apiClusterIp = firstServiceIp(serviceCidr);
  for (std::string h : {std::string("kubernetes"), std::string("kubernetes.default"), std::string("kubernetes.default.svc"),
                        std::string("kubernetes.default.svc.cluster.local"), apiClusterIp})
    if (!h.empty()) hosts.push_back(h);
  auto tls = pki::ensureServingCertificate(options.dataDir + "/tls", hosts);
  if (!tls) return tls.error();
  p->caPem_ = tls->caCertPem;
  auto ca = pki::CertificateAuthority::open(options.dataDir + "/tls");
  if (!ca) return ca.error();
  p->ca_ = *ca;
  // The API server's way to the node servers, presenting its kubelet-client identity.
  p->nodeClient_ = std::make_unique<apiserver::NodeClient>(
      *p->registry_, apiserver::NodeClientOptions{p->caPem_, [ca = *ca] {
        return ca.issueCertificate({agent::kApiServerClientName, "system:masters", {}, false, true, std::chrono::hours(24)});
      }});
  auto saTokens = apiserver::ServiceAccountTokens::open(options.dataDir);
  if (!saTokens) return saTokens.error();
  p->saTokens_ = std::move(*saTokens);
  if (!options.otlpEndpoint.empty()) {
    auto exporter = observe::SpanExporter::create(options.otlpEndpoint, "skiff");
    if (!exporter) return exporter.error();
    p->spans_ = std::move(*exporter);
  }
  if (options.controllers)
    if (Status s = p->startControllers(options); !s) return Error::unavailable("cannot start the controllers: " + s.error().message);
  apiserver::ApiServerOptions apiOptions;
  apiOptions.token = p->token_;
  apiOptions.nodes = p->nodeClient_.get();
  if (auto* agent = p->agent_.get()) {
    if (auto* images = p->images_.get())
      apiOptions.extensions["/skiff/v1/images"] = [images, agent](http::Exchange& ex) {
        image::serveImages(*images, ex, [agent] { return agent->imagesInUse(); });
      };
  }
  apiOptions.bookmarkInterval = options.bookmarkInterval;
  apiOptions.serviceAccounts = p->saTokens_.get();
  // The web console at /ui and its chart history (the nodes' usage and request totals).
  apiOptions.console = [](http::Exchange& ex) { console::serveAsset(ex); };
  p->history_ = std::make_unique<console::History>(console::sampleNodes(*p->nodeClient_));
  p->history_->start();
  apiOptions.extensions["/skiff/v1/history"] = [history = p->history_.get()](http::Exchange& ex) {
    ex.respond({200, "application/json", {}, history->json()});
  };
  if (p->spans_) apiOptions.spans = [spans = p->spans_.get()](observe::Span s) { spans->record(std::move(s)); };
  p->api_ = std::make_unique<apiserver::ApiServer>(*p->registry_, apiOptions);
  http::ServerOptions httpOptions;
  httpOptions.tlsCertPem = tls->certPem;
  httpOptions.tlsKeyPem = tls->keyPem;
  httpOptions.host = options.listenHost;
  httpOptions.port = options.listenPort;
  auto* api = p->api_.get();
  httpOptions.admit = [api](const http::Request& head) { return api->admit(head); };
  auto server = http::listen(httpOptions, [api](http::Exchange& ex) { api->handle(ex); });
  if (!server) return server.error();
  p->server_ = std::move(*server);
  if (Status s = ensureKubernetesService(*p->registry_, apiClusterIp, p->server_->port()); !s)
    log::warn("platform", "cannot publish the API as Service default/kubernetes: " + s.error().message);
  std::string host = options.listenHost.find(':') != std::string::npos ? "[" + options.listenHost + "]" : options.listenHost;
  std::string clientHost = options.listenHost == "0.0.0.0" ? "127.0.0.1" : options.listenHost == "::" ? "[::1]" : host;
  cli::Kubeconfig kc{"https://" + clientHost + ":" + std::to_string(p->server_->port()), p->token_, tls->caCertPem, "default"};
  p->kubeconfig_ = options.dataDir + "/kubeconfig";
  if (Status s = writeFileAtomic(p->kubeconfig_, cli::renderKubeconfig(kc), 0600); !s) return s.error();
  return std::unique_ptr<Platform>(std::move(p));
}

}  // namespace skiff::server
