#include "server/platform.h"
#include "server/rbac_policy.h"
#include "apiserver/encryption_config.h"

#include "server/node.h"

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
#include "client/leader_election.h"
#include "client/local_client.h"
#include "server/apiserver_endpoints.h"
#include "server/control_loops.h"
#include "server/node_join_token.h"
#include "network/host_address.h"
#include "common/files.h"
#include "common/log.h"
#include "agent/node_agent.h"
#include "agent/node_server.h"
#include "apiserver/node_client.h"
#include "agent/node_server.h"
#include "apiserver/node_client.h"
#include "agent/simulated_nodes.h"
#include "image/image_api.h"
#include "image/image_store.h"
#include "proxy/node_proxy.h"
#include "client/event_recorder.h"
#include "client/informer.h"
#include "controller/crd_controller.h"
#include "controller/namespace_controller.h"
#include "gitops/application_controller.h"
#include "gitops/application_set.h"
#include "gitops/definitions.h"
#include "http/http.h"
#include "console/console.h"
#include "observe/otlp.h"
#include "pki/pki.h"
#include "server/cluster_secrets.h"
#include "store/open_store.h"

namespace skiff::server {
namespace fs = std::filesystem;
namespace json = boost::json;
namespace {

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

// Service default/kubernetes (port 443 on the range's first address), so pods reach the API the
// way they do on any Kubernetes; its Endpoints name the live servers (server/apiserver_endpoints.h).
Status ensureKubernetesService(apiserver::Registry& registry, const std::string& clusterIp, uint16_t apiPort) {
  const api::ResourceType& svcType = *api::findByKind("v1", "Service");
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
  return {};
}

class PlatformImpl final : public Platform {
 public:
  uint16_t port() const override { return server_->port(); }
  std::string kubeconfigPath() const override { return kubeconfig_; }
  std::string token() const override { return token_; }
  void stop() override {
    if (apiEndpoints_) apiEndpoints_->stop();
    if (server_) server_->stop();
    if (history_) history_->stop();
    if (elector_) elector_->stop();  // stops the loops it started
    if (node_) node_->stop();
    if (simulated_) simulated_->stop();
    if (loops_) loops_->stop();
    if (gitops_) gitops_->stop();
    if (applicationSets_) applicationSets_->stop();
    if (namespaces_) namespaces_->stop();
    if (definitions_) definitions_->stop();
    if (informers_) informers_->stop();
    if (authorizerPods_) authorizerPods_->stop();
    if (rbac_) rbac_->stop();
    if (spans_) spans_->stop();
  }
  ~PlatformImpl() override { stop(); }

  DataDirLock lock_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<apiserver::Registry> registry_;
  std::unique_ptr<client::LocalClient> client_;  // what every in-process component sees of the API
  std::unique_ptr<RbacPolicy> rbac_;  // before api_: the API server reads it until it is gone
  std::unique_ptr<apiserver::ApiServer> api_;
  std::unique_ptr<controller::NamespaceController> namespaces_;
  // Kinds added by CustomResourceDefinitions, and the controller that publishes them.
  apiserver::CustomResources customResources_;
  std::unique_ptr<controller::CustomResourceDefinitionController> definitions_;
  std::unique_ptr<client::InformerSet> informers_;
  std::unique_ptr<client::Informer> authorizerPods_;  // when informers_ holds no running pod informer
  std::unique_ptr<apiserver::AuditLog> audit_;
  std::unique_ptr<ControlLoops> loops_;
  std::unique_ptr<gitops::ApplicationController> gitops_;  // Argo CD Applications
  std::unique_ptr<gitops::ApplicationSetController> applicationSets_;
  std::unique_ptr<ApiServerEndpoints> apiEndpoints_;
  // `skiff server`: the loops run while this server holds the controller Lease, on informers of
  // their own (made and dropped with the leadership).
  std::unique_ptr<client::LeaderElector> elector_;
  std::unique_ptr<client::InformerSet> leaderInformers_;
  std::mutex leaderMutex_;
  std::unique_ptr<agent::SimulatedNodes> simulated_;
  std::unique_ptr<Node> node_;
  agent::NodeAgent* agent_ = nullptr;  // node_'s parts, for the API server's node callbacks
  proxy::NodeProxy* proxy_ = nullptr;
  image::ImageStore* images_ = nullptr;
  std::unique_ptr<observe::SpanExporter> spans_;
  std::unique_ptr<console::History> history_;
  std::unique_ptr<apiserver::ServiceAccountTokens> saTokens_;
  std::string caPem_;
  std::optional<pki::CertificateAuthority> ca_;
  std::unique_ptr<apiserver::NodeClient> nodeClient_;  // the API server's way to the node servers

 public:
  agent::SimulatedNodes* simulated() { return simulated_.get(); }

  // This machine as a node, on the same in-process client and informers as the controllers.
  Status startNode(const PlatformOptions& options, client::Informer& pods) {
    NodeOptions n = options.node;
    n.dataDir = options.dataDir;
    n.controlPlane = true;
    n.leaseRenewInterval = std::min<std::chrono::milliseconds>(std::chrono::milliseconds(10000), options.nodeGracePeriod / 4);
    n.spans = spans_.get();
    if (saTokens_) {
      n.issueToken = [tokens = saTokens_.get()](const std::string& ns, const std::string& sa, const std::string& pod,
                                                const std::string& uid, int64_t seconds, const std::string& audience) {
        return tokens->issue({ns, sa, pod, uid}, seconds, audience.empty() ? "skiff" : audience);
      };
      n.caPem = caPem_;
    }
    if (n.meshPort > 0)
      n.issueMeshCertificate = [ca = *ca_](const std::string& id, std::chrono::seconds lifetime) { return ca.issue(id, lifetime); };
    n.clientCaPem = caPem_;
    n.adminToken = token_;
    n.nodeServerCertificate = [ca = *ca_](const std::string& name, const std::string& ip) {
      return ca.issueCertificate({name, "system:nodes", {name, ip, "127.0.0.1", "localhost"}, true, false, std::chrono::hours(24 * 365)});
    };
    auto node = Node::create(n, *client_, *informers_, pods);
    if (!node) return node.error();
    node_ = std::move(*node);
    agent_ = &node_->agent();
    proxy_ = node_->proxy();
    images_ = node_->images();
    return {};
  }

  ControlLoopOptions loopOptions(const PlatformOptions& options) {
    ControlLoopOptions o;
    o.nodeGracePeriod = options.nodeGracePeriod;
    o.ipam = options.nodeIpam;
    o.usage = controller::usageFromNodes(*nodeClient_);
    o.ca = ca_;
    o.csr.maxLifetime = options.clusterSigningDuration;
    return o;
  }

  // `skiff up`: the loops, this machine's node and any hollow nodes on one set of informers,
  // which start once every handler is in place.
  Status startControllers(const PlatformOptions& options) {
    loops_ = ControlLoops::build(*client_, *informers_, loopOptions(options));
    auto& pods = informers_->get("v1", "Pod");
    if (options.agent)
      if (Status st = startNode(options, pods); !st) return st.error();
    if (options.simulatedNodes > 0)
      simulated_ = std::make_unique<agent::SimulatedNodes>(
          *client_, pods,
          agent::SimulatedNodeOptions{options.simulatedNodes, "sim-node-",
                                      std::min<std::chrono::milliseconds>(std::chrono::milliseconds(10000), options.nodeGracePeriod / 4)});
    if (Status s = informers_->start(); !s) return s.error();
    if (simulated_)
      if (Status s = simulated_->start(); !s) return s.error();
    // The loops first: the node waits for the pod range their node IPAM gives it.
    loops_->run();
    if (node_) {
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      if (Status s = node_->start([deadline] { return std::chrono::steady_clock::now() > deadline; }); !s) return s.error();
    }
    return {};
  }

  // `skiff server`: the loops follow the controller Lease.
  void electControllers(const PlatformOptions& options) {
    client::LeaderElectionConfig c = options.leaderElection;
    if (c.identity.empty()) {
      char host[256] = {0};
      ::gethostname(host, sizeof host - 1);
      c.identity = std::string(host) + "_" + randomToken().substr(0, 8);
    }
    c.onStartedLeading = [this, options] {
      std::lock_guard lock(leaderMutex_);
      leaderInformers_ = std::make_unique<client::InformerSet>(*client_);
      loops_ = ControlLoops::build(*client_, *leaderInformers_, loopOptions(options));
      if (Status s = leaderInformers_->start(); !s) log::warn("platform", "controller informers: " + s.error().message);
      loops_->run();
    };
    c.onStoppedLeading = [this] {
      std::lock_guard lock(leaderMutex_);
      if (loops_) loops_->stop();
      if (leaderInformers_) leaderInformers_->stop();
      loops_.reset();
      leaderInformers_.reset();
    };
    elector_ = std::make_unique<client::LeaderElector>(*client_, c);
    elector_->start();
  }

  std::unique_ptr<http::Server> server_;
  std::string kubeconfig_, token_;
};

}  // namespace

Result<std::unique_ptr<Platform>> Platform::start(const PlatformOptions& options) {
  if (Status s = makePrivateDir(options.dataDir); !s) return s.error();
  auto p = std::make_unique<PlatformImpl>();
  if (Status s = p->lock_.acquire(options.dataDir); !s) return s.error();
  auto store = store::openStore(options.storeUrl, options.dataDir);
  if (!store) return store.error();
  auto encrypted = apiserver::withEncryption(std::move(store->store), options.encryptionConfig, options.dataDir, store->shared);
  if (!encrypted) return encrypted.error();
  p->store_ = std::move(*encrypted);
  log::info("platform", "store: " + store->description);
  if (store->shared) {
    // Every server on this store must sign and accept the same certificates and tokens.
    auto makeSecrets = [&]() -> Status {
      if (auto ca = pki::CertificateAuthority::open(options.dataDir + "/tls"); !ca) return ca.error();
      if (auto sa = apiserver::ServiceAccountTokens::open(options.dataDir); !sa) return sa.error();
      if (auto t = loadOrCreateToken(options.dataDir); !t) return t.error();
      return {};
    };
    if (Status s = shareClusterSecrets(*p->store_, options.dataDir, makeSecrets); !s)
      return Error::unavailable("cannot share the cluster's CA, service-account key and token through the store: " + s.error().message);
  }
  auto token = loadOrCreateToken(options.dataDir);
  if (!token) return token.error();
  p->token_ = *token;
  // Pods in their own network namespaces reach cluster IPs through the node; loopback addresses
  // would be their own. Shared-host-network pods (process runtime) use loopback ones.
  std::string effectiveRuntime = options.node.runtime.empty() ? (geteuid() == 0 ? "native" : "process") : options.node.runtime;
  std::string serviceCidr = !options.serviceCidr.empty() ? options.serviceCidr
                            : (options.agent && effectiveRuntime != "process") ? "10.96.0.0/16"
                                                                               : "127.19.0.0/16";
  p->registry_ = std::make_unique<apiserver::Registry>(*p->store_, apiserver::RegistryOptions{serviceCidr});
  p->client_ = std::make_unique<client::LocalClient>(*p->registry_);
  p->informers_ = std::make_unique<client::InformerSet>(*p->client_);
  if (Status s = p->registry_->bootstrap(); !s) return Error::unavailable("cannot create the default namespaces: " + s.error().message);
  // Argo CD's kinds, bundled as k3s bundles its CRDs (gitops/definitions.h).
  if (Status s = gitops::installDefinitions(*p->client_); !s) log::warn("platform", "cannot install the GitOps definitions: " + s.error().message);
  p->definitions_ = std::make_unique<controller::CustomResourceDefinitionController>(*p->client_, p->customResources_);
  if (Status s = p->definitions_->start(); !s) return Error::unavailable("cannot serve the CustomResourceDefinitions: " + s.error().message);
  p->namespaces_ = std::make_unique<controller::NamespaceController>(
      *p->client_, [catalog = &p->customResources_] { return catalog->served(); });
  if (Status s = p->namespaces_->start(); !s) return Error::unavailable("cannot start the namespace controller: " + s.error().message);
  // The serving certificate also names the in-cluster API address (the `kubernetes` Service).
  std::vector<std::string> hosts;
  if (options.listenHost != "0.0.0.0" && options.listenHost != "::") hosts.push_back(options.listenHost);
  // The address pods and nodes reach this server at: given, or the listen address, or the
  // default route's.
  std::string advertise = options.advertiseAddress;
  if (advertise.empty()) advertise = options.listenHost != "0.0.0.0" && options.listenHost != "::" ? options.listenHost : network::defaultRouteAddress();
  if (advertise.empty()) advertise = "127.0.0.1";
  if (std::find(hosts.begin(), hosts.end(), advertise) == hosts.end()) hosts.push_back(advertise);
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
  if (options.controllers && options.electLeader) {
    p->electControllers(options);
  } else if (options.controllers) {
    if (Status s = p->startControllers(options); !s) return Error::unavailable("cannot start the controllers: " + s.error().message);
  }
  apiserver::ApiServerOptions apiOptions;
  if (options.controllers && !options.electLeader) {
    p->gitops_ = std::make_unique<gitops::ApplicationController>(*p->client_, gitops::ApplicationControllerOptions{
        fs::path(options.dataDir) / "gitops", options.gitopsPollInterval, [c = &p->customResources_] { return c->served(); }, 2, options.gitopsWebhookSecret});
    if (Status s = p->gitops_->start(); !s) return Error::unavailable("cannot start the GitOps controller: " + s.error().message);
    apiOptions.webhook = [g = p->gitops_.get()](http::Exchange& ex) { g->serveWebhook(ex); };
    p->applicationSets_ = std::make_unique<gitops::ApplicationSetController>(*p->client_, [c = &p->customResources_] { return c->served(); });
    if (Status s = p->applicationSets_->start(); !s) return Error::unavailable("cannot start the ApplicationSet controller: " + s.error().message);
  }
  apiOptions.token = p->token_;
  apiOptions.nodes = p->nodeClient_.get();
  if (auto* agent = p->agent_) {
    if (auto* images = p->images_)
      apiOptions.extensions["/skiff/v1/images"] = [images, agent](http::Exchange& ex) {
        image::serveImages(*images, ex, [agent] { return agent->imagesInUse(); });
      };
  }
  apiOptions.bookmarkInterval = options.bookmarkInterval;
  if (!options.audit.policyFile.empty()) {
    auto audit = apiserver::AuditLog::open(options.audit);
    if (!audit) return audit.error();
    p->audit_ = std::move(*audit);
    apiOptions.audit = p->audit_.get();
  }
  // The Node authorizer's pods: the loops' informer when it runs for good (`skiff up`), else one of its own.
  client::Informer* pods = nullptr;
  if (options.controllers && !options.electLeader) {
    pods = &p->informers_->get("v1", "Pod");
  } else {
    p->authorizerPods_ = std::make_unique<client::Informer>(*p->client_, *api::findByKind("v1", "Pod"));
    if (Status s = p->authorizerPods_->start(); !s) return Error::unavailable("cannot list pods for the node authorizer: " + s.error().message);
    pods = p->authorizerPods_.get();
  }
  apiOptions.podsOnNode = [pods](const std::string& node) {
    std::vector<auth::PodReferences> out;
    for (const auto& pod : pods->listByNode(node)) out.push_back(auth::podReferencesOf(*pod));
    return out;
  };
  p->rbac_ = std::make_unique<RbacPolicy>(*p->client_);
  if (Status s = p->rbac_->start(); !s) return Error::unavailable("cannot read the RBAC roles and bindings: " + s.error().message);
  apiOptions.rbac = &p->rbac_->authorizer();
  apiOptions.customResources = &p->customResources_;
  apiOptions.serviceAccounts = p->saTokens_.get();
  // The web console at /ui and its chart history (the nodes' usage and request totals).
  apiOptions.console = [](http::Exchange& ex) { console::serveAsset(ex); };
  p->history_ = std::make_unique<console::History>(console::sampleNodes(*p->nodeClient_));
  p->history_->start();
  if (auto* encrypted = dynamic_cast<store::EncryptingStore*>(p->store_.get()))
    apiOptions.extensions["/skiff/v1/encryption/rewrite"] = [registry = p->registry_.get(), prefixes = encrypted->prefixes()](http::Exchange& ex) {
      apiserver::serveEncryptionRewrite(*registry, prefixes, ex);
    };
  apiOptions.extensions["/skiff/v1/history"] = [history = p->history_.get()](http::Exchange& ex) {
    ex.respond({200, "application/json", {}, history->json()});
  };
  if (p->spans_) apiOptions.spans = [spans = p->spans_.get()](observe::Span s) { spans->record(std::move(s)); };
  p->api_ = std::make_unique<apiserver::ApiServer>(*p->registry_, apiOptions);
  http::ServerOptions httpOptions;
  httpOptions.tlsCertPem = tls->certPem;
  // Client certificates signed by the cluster CA authenticate (nodes, and users given one).
  httpOptions.clientCaPem = p->caPem_;
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
  p->apiEndpoints_ = std::make_unique<ApiServerEndpoints>(*p->client_, ApiServerEndpointOptions{advertise, p->server_->port()});
  if (Status s = p->apiEndpoints_->start(); !s)
    log::warn("platform", "cannot publish this server in Endpoints default/kubernetes: " + s.error().message);
  // Joining nodes: the token (DATA/node-token) and the signed cluster-info they check the CA with.
  if (auto t = ensureNodeJoinToken(*p->client_, options.dataDir); !t)
    log::warn("platform", "cannot make the node join token (skiff agent --token will not work): " + t.error().message);
  std::string advertiseHost = advertise.find(':') != std::string::npos ? "[" + advertise + "]" : advertise;
  if (Status s = publishClusterInfo(*p->client_, "https://" + advertiseHost + ":" + std::to_string(p->server_->port()), p->caPem_); !s)
    log::warn("platform", "cannot publish kube-public/cluster-info: " + s.error().message);
  std::string host = options.listenHost.find(':') != std::string::npos ? "[" + options.listenHost + "]" : options.listenHost;
  std::string clientHost = options.listenHost == "0.0.0.0" ? "127.0.0.1" : options.listenHost == "::" ? "[::1]" : host;
  cli::Kubeconfig kc{"https://" + clientHost + ":" + std::to_string(p->server_->port()), p->token_, tls->caCertPem, "default"};
  p->kubeconfig_ = options.dataDir + "/kubeconfig";
  if (Status s = writeFileAtomic(p->kubeconfig_, cli::renderKubeconfig(kc), 0600); !s) return s.error();
  return std::unique_ptr<Platform>(std::move(p));
}

}  // namespace skiff::server
