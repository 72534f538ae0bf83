// Platform: the wiring of the control plane — store, API server, controllers and scheduler — for
// `skiff server`, plus this machine as a node (server/node.h) for `skiff up`. Everything else
// meets through headers and the API.
#pragma once
#include "apiserver/audit.h"
#include <chrono>
#include <memory>
#include <string>

#include "common/result.h"
#include "client/leader_election.h"
#include "controller/node_ipam_controller.h"
#include "server/node.h"

namespace skiff::server {

struct PlatformOptions {
  std::string dataDir = ".skiff";
  std::string storeUrl;  // --store: "" is SQLite in dataDir; etcd://HOST:PORT,... is shared by several servers
  std::string listenHost = "127.0.0.1";
  uint16_t listenPort = 6443;
  std::string advertiseAddress;  // what pods and nodes reach this server at; default: listen or default-route address
  std::chrono::milliseconds bookmarkInterval{10000};
  int simulatedNodes = 0;  // hollow nodes for tests and scale figures (no processes run)
  std::chrono::milliseconds nodeGracePeriod{40000};  // lease age after which a node is NotReady
  std::chrono::seconds clusterSigningDuration{365 * 24 * 3600};  // longest certificate the CSR signer issues
  apiserver::AuditOptions audit;  // policyFile empty: no audit log
  std::string encryptionConfig;   // --encryption-provider-config; "": Secrets with DATA/encryption.key (apiserver/encryption_config.h)
  bool agent = true;            // run this machine as a node too (`skiff up`; `skiff server` does not)
  bool controllers = true;      // scheduler and workload controllers (false: API server and store only)
  // Run the controllers only while holding the controller Lease (`skiff server`: several servers
  // on one store, one acting at a time).
  bool electLeader = false;
  client::LeaderElectionConfig leaderElection;  // timings; identity defaults to host name + suffix
  controller::NodeIpamOptions nodeIpam;  // --cluster-cidr, --node-cidr-mask-size: Nodes' pod ranges
  std::string serviceCidr;  // default: 10.96.0.0/16 with the native and oci runtimes, 127.19.0.0/16 otherwise
  std::string otlpEndpoint;    // http://collector:4318: spans of API requests and proxied requests go there
  // GitOps (gitops/application_controller.h): how often Applications' repositories are polled
  // without a webhook, and the webhook secret for every provider ("" = Argo CD's Secret only).
  std::chrono::milliseconds gitopsPollInterval{180000};
  std::string gitopsWebhookSecret;
  // This machine as a node (with `agent`); its dataDir is the platform's.
  NodeOptions node;
};

class Platform {
 public:
  // Opens the data dir (locked against a second skiff), the store, and starts serving.
  static Result<std::unique_ptr<Platform>> start(const PlatformOptions& options);
  virtual ~Platform() = default;
  virtual uint16_t port() const = 0;
  virtual std::string kubeconfigPath() const = 0;
  virtual std::string token() const = 0;
  virtual void stop() = 0;
};

}  // namespace skiff::server
