// SimulatedNodes: nodes without machines, like kwok or kubemark's hollow nodes. Each registers a
// Node (capacity 8 CPU, 32 GiB, 110 pods), renews its Lease in kube-node-lease, reports the pods
// bound to it Running and Ready (with an IP from 198.18.0.0/16) without starting processes, and
// finishes their deletion. They let the control plane be tested and measured at 5,000 nodes on
// one machine. Node heartbeats go through the API client like any other write.
#pragma once
#include <atomic>
#include <set>
#include <string>
#include <thread>

#include "client/informer.h"
#include "controller/reconcile_loop.h"

namespace skiff::agent {

struct SimulatedNodeOptions {
  int count = 0;
  std::string prefix = "sim-node-";
  std::chrono::milliseconds leaseRenewInterval{10000};
  int zones = 3;  // topology.kubernetes.io/zone=zone-<i % zones>
};

class SimulatedNodes {
 public:
  SimulatedNodes(client::Client& client, client::Informer& pods, SimulatedNodeOptions options);
  ~SimulatedNodes() { stop(); }
  Status start();
  void stop();
  // Stops renewing one node's lease, as if its machine died (tests and benchmarks).
  void kill(const std::string& node);

 private:
  Result<controller::Requeue> reconcilePod(const std::string& key);
  void renewLeases();

  client::Client& client_;
  client::Informer& pods_;
  SimulatedNodeOptions options_;
  std::set<std::string> names_;
  std::mutex deadMutex_;
  std::set<std::string> dead_;
  controller::ReconcileLoop loop_;
  std::thread heartbeat_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint32_t> nextIp_{0};
};

}  // namespace skiff::agent
