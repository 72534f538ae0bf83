#include "server/agent.h"

#include <unistd.h>

#include <openssl/sha.h>

#include <boost/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <ctime>
#include <thread>

#include "agent/node_agent.h"
#include "api/object.h"
#include "client/event_recorder.h"
#include "common/files.h"
#include "common/log.h"
#include "auth/user.h"
#include "controller/csr_controller.h"
#include "pki/pki.h"
#include "pki/renewal.h"
#include "server/node_join.h"

namespace skiff::server {
namespace json = boost::json;
namespace {

class AgentImpl final : public Agent {
 public:
  ~AgentImpl() override { stop(); }
  void stop() override {
    if (rotator_) rotator_->stop();
    if (node_) node_->stop();
    if (informers_) informers_->stop();
  }
  const std::string& nodeName() const override { return nodeName_; }

  DataDirLock lock_;
  std::string nodeName_;
  std::unique_ptr<client::RestClient> client_;
  std::unique_ptr<client::InformerSet> informers_;
  std::unique_ptr<Node> node_;
  std::unique_ptr<pki::CertificateRenewer> rotator_;
};

// Reads this node's own Node (which a node may always do) until a server answers. Transport
// failures are retried (a server may still be starting); an answer that refuses our credentials
// or is not an API server's ends the start.
// `skew` is set to how far this machine's clock is ahead of the server's (seconds, from the
// answer's Date header).
Status reachServers(client::RestClient& client, const std::vector<std::string>& servers, const std::string& nodeName,
                    const std::function<bool()>& stopRequested, int64_t& skew) {
  auto lastLog = std::chrono::steady_clock::time_point();
  for (;;) {
    auto r = client.request("GET", client::resourcePath(*api::findByKind("v1", "Node"), "", nodeName));
    if (r && (r->status == 200 || (r->status == 404 && client::errorFromResponse(*r, "").reason == "NotFound"))) {
      std::tm tm{};
      auto date = r->headers.find("date");
      if (date != r->headers.end() && strptime(date->second.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm))
        skew = int64_t(std::time(nullptr)) - int64_t(timegm(&tm));
      return {};
    }
    if (r) return client::errorFromResponse(*r, client.currentServer());  // e.g. 401: the credentials are wrong
    if (stopRequested()) return Error::unavailable("stopped before an API server answered");
    if (std::chrono::steady_clock::now() - lastLog > std::chrono::seconds(5)) {
      std::string list;
      for (const auto& s : servers) list += (list.empty() ? "" : ", ") + s;
      log::warn("agent", "waiting for an API server (" + list + "): " + r.error().message);
      lastLog = std::chrono::steady_clock::now();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

// Who this agent is: the machine and its data dir, so a restart on the same machine is the same
// agent and a second machine (or data dir) claiming the node name is not.
std::string agentIdentity(const std::string& dataDir) {
  std::string machine;
  std::ifstream("/etc/machine-id") >> machine;
  std::error_code ec;
  std::string seed = machine + "|" + std::filesystem::absolute(dataDir, ec).string();
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(seed.data()), seed.size(), digest);
  static const char* hex = "0123456789abcdef";
  std::string id;
  for (int i = 0; i < 8; ++i) {
    id += hex[digest[i] >> 4];
    id += hex[digest[i] & 15];
  }
  return id;
}

// Refuses a node name another live agent holds: its lease names another agent and keeps being
// renewed while we watch for one renewal interval (a dead one's lease is taken over).
Status checkNameFree(client::Client& client, const std::string& nodeName, const std::string& agentId,
                     const std::function<bool()>& stopRequested) {
  const api::ResourceType& leaseType = *api::findByKind("coordination.k8s.io/v1", "Lease");
  auto lease = client.get(leaseType, "kube-node-lease", nodeName);
  if (!lease) return {};
  std::string holder;
  if (const json::value* a = api::valueAt(*lease, "metadata.annotations"); a && a->is_object())
    if (const json::value* id = a->as_object().if_contains(agent::kAgentIdAnnotation); id && id->is_string()) holder = id->as_string();
  if (holder.empty() || holder == agentId) return {};
  std::string renewed = api::stringAt(*lease, "spec.renewTime");
  int64_t duration = 40;
  if (const json::value* d = api::valueAt(*lease, "spec.leaseDurationSeconds"); d && d->is_int64()) duration = d->as_int64();
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(duration * 1000 / 4 + 1500);
  while (std::chrono::steady_clock::now() < until && !stopRequested()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto now = client.get(leaseType, "kube-node-lease", nodeName);
    if (now && api::stringAt(*now, "spec.renewTime") != renewed)
      return Error::conflict("node name \"" + nodeName + "\" is in use: another agent (" + holder +
                             ") keeps its lease renewed; give this machine another --node-name, or stop that agent first");
  }
  return {};
}

// Past this, certificates and tokens this node is handed may look not yet valid or expired to it.
constexpr int64_t kTolerableSkewSeconds = 30;

// Says so in the log and on the Node (`kubectl describe node`): liveness is judged by renewals,
// not timestamps, so the node still works, but time-bound credentials may not.
void reportClockSkew(client::Client& client, const std::string& nodeName, int64_t skew) {
  std::string what = "this node's clock is " + std::to_string(std::abs(skew)) + " s " + (skew > 0 ? "ahead of" : "behind") +
                     " the API server's; certificates and tokens may look expired or not yet valid here — sync it (NTP, chrony)";
  log::warn("agent", what);
  auto node = client.get(*api::findByKind("v1", "Node"), "", nodeName);
  if (!node) return;
  client::EventRecorder events(client, "kubelet", nodeName);
  events.warning(*node, "ClockSkew", what);
  events.flush();
}

// What the control plane hands this node comes through the API, under the node's identity: the
// node server's certificate by CSR (kubelet-serving), the mesh identities its proxy presents by
// CSR (skiff.dev/mesh-workload), pods' tokens by TokenRequest; the API server's client
// certificate towards the node server chains to the cluster CA.
void handOutThroughTheApi(client::RestClient& client, const std::string& caPem, NodeOptions& node, const std::function<bool()>& stopRequested) {
  if (node.clientCaPem.empty()) node.clientCaPem = caPem;
  if (!node.nodeServerCertificate)
    node.nodeServerCertificate = [&client, caPem, stopRequested](const std::string& name, const std::string& ip) -> Result<pki::Certificate> {
      std::vector<std::string> hosts{name};
      if (!ip.empty() && ip != name) hosts.push_back(ip);
      auto kr = pki::makeCertificateRequest({std::string(auth::kNodeUserPrefix) + name, auth::kNodesGroup, hosts, true, false});
      if (!kr) return kr.error();
      auto cert = requestCertificate(client, "node-serving-", kr->requestPem, controller::kKubeletServingSigner,
                                     {"digital signature", "key encipherment", "server auth"}, std::chrono::seconds(60), stopRequested);
      if (!cert) return cert.error();
      return pki::Certificate{*cert, kr->keyPem, caPem};
    };
  if (!node.issueMeshCertificate && node.meshPort > 0)
    node.issueMeshCertificate = [&client, caPem, stopRequested](const std::string& spiffeId, std::chrono::seconds lifetime) -> Result<pki::Identity> {
      pki::CertificateRequest request;
      request.uris = {spiffeId};
      request.serverAuth = request.clientAuth = true;
      auto kr = pki::makeCertificateRequest(request);
      if (!kr) return kr.error();
      auto cert = requestCertificate(client, "mesh-", kr->requestPem, controller::kMeshWorkloadSigner,
                                     {"digital signature", "key encipherment", "client auth", "server auth"}, std::chrono::seconds(10),
                                     stopRequested, lifetime);
      if (!cert) return cert.error();
      return pki::identityFromCertificate(spiffeId, *cert, kr->keyPem, caPem);
    };
  if (!node.issueToken)
    node.issueToken = [&client](const std::string& ns, const std::string& sa, const std::string& pod, const std::string& uid, int64_t seconds,
                                const std::string& audience) -> std::string {
      auto t = requestServiceAccountToken(client, ns, sa, pod, uid, seconds, audience);
      if (t) return *t;
      log::warn("agent", "no service-account token for pod " + ns + "/" + pod + ": " + t.error().message);
      return "";
    };
}

}  // namespace

Result<std::unique_ptr<Agent>> Agent::start(const AgentProcessOptions& options, const std::function<bool()>& stopRequested) {
  auto agent = std::make_unique<AgentImpl>();
  if (Status s = makePrivateDir(options.node.dataDir); !s) return s.error();
  if (Status s = agent->lock_.acquire(options.node.dataDir); !s) return s.error();
  NodeOptions node = options.node;
  if (node.nodeName.empty()) {
    char host[256] = {0};
    ::gethostname(host, sizeof host - 1);
    node.nodeName = host;
  }
  agent->nodeName_ = node.nodeName;
  client::RestConfig api = options.api;
  if (!options.joinToken.empty()) {
    auto joined = joinCluster({api.servers, options.joinToken, node.dataDir, node.nodeName}, stopRequested);
    if (!joined) return joined.error();
    api = std::move(*joined);
  }
  if (node.caPem.empty()) node.caPem = api.caPem;
  auto client = client::RestClient::create(api);
  if (!client) return client.error();
  agent->client_ = std::move(*client);
  if (!options.joinToken.empty()) {  // agent.kubeconfig is ours: keep it fresh
    agent->rotator_ = std::make_unique<pki::CertificateRenewer>(
        "the node's client certificate", api.certPem,
        [client = agent->client_.get(), join = JoinOptions{api.servers, options.joinToken, node.dataDir, node.nodeName},
         ca = api.caPem](const std::function<bool()>& stop) { return renewClientCertificate(*client, join, ca, stop); });
    agent->rotator_->start();
  }
  int64_t skew = 0;
  if (Status s = reachServers(*agent->client_, api.servers, node.nodeName, stopRequested, skew); !s) return s.error();
  handOutThroughTheApi(*agent->client_, api.caPem, node, stopRequested);
  node.agentId = agentIdentity(node.dataDir);
  if (Status s = checkNameFree(*agent->client_, node.nodeName, node.agentId, stopRequested); !s) return s.error();
  agent->informers_ = std::make_unique<client::InformerSet>(*agent->client_);
  // kubelet's view: only the pods bound here (the DNS server keeps its own cluster-wide one).
  auto& podsOnNode = agent->informers_->get("v1", "Pod", {"", {}, *api::FieldSelector::parse("spec.nodeName=" + node.nodeName)}, "on-node");
  auto built = Node::create(node, *agent->client_, *agent->informers_, podsOnNode);
  if (!built) return built.error();
  agent->node_ = std::move(*built);
  if (Status s = agent->informers_->start(); !s) log::warn("agent", "listing from the API server failed (retrying): " + s.error().message);
  while (!podsOnNode.waitForSync(std::chrono::seconds(5)))
    if (stopRequested()) return Error::unavailable("stopped before this node's pods were listed");
  if (Status s = agent->node_->start(stopRequested); !s) return s.error();
  if (std::abs(skew) > kTolerableSkewSeconds) reportClockSkew(*agent->client_, node.nodeName, skew);
  log::info("agent", "node " + node.nodeName + " joined through " + agent->client_->currentServer());
  return std::unique_ptr<Agent>(std::move(agent));
}

}  // namespace skiff::server
