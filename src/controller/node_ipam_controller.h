// NodeIpamController: gives every Node a pod range (spec.podCIDR and spec.podCIDRs) from the
// cluster CIDR, as kube-controller-manager's range allocator does with --allocate-node-cidrs:
// one /nodeMaskSize per node (default /24 of 10.244.0.0/16), never the same range to two nodes,
// the range freed when its Node is deleted. The agent builds its bridge and pod addresses from
// it, and every other node routes the range to that node (network/overlay.h).
//
// The bookkeeping is in memory and comes from the Nodes themselves: after a restart (or when
// another server takes the controller Lease) the first reconcile marks every range the cached
// Nodes already hold, before handing out a new one. A range a Node brought itself (an agent's
// --pod-cidr) is respected when it lies in the cluster CIDR and is free; one outside is left
// alone, one that overlaps another node's gets a CIDRNotAvailable event on the Node.
//
// Threading: one ReconcileLoop worker, so the set is only touched from it (the mutex guards it
// against the test's direct reconcile calls).
#pragma once
#include <map>
#include <mutex>
#include <set>

#include "client/event_recorder.h"
#include "client/informer.h"
#include "controller/reconcile_loop.h"
#include "network/cidr_set.h"

namespace skiff::controller {

struct NodeIpamOptions {
  network::Ipv4Cidr clusterCidr{0x0af40000, 16};  // 10.244.0.0/16, kube-controller-manager's --cluster-cidr in kubeadm's docs
  int nodeMaskSize = 24;                            // --node-cidr-mask-size
};

class NodeIpamController {
 public:
  // Fails when the mask size does not fit the cluster CIDR.
  static Result<std::unique_ptr<NodeIpamController>> create(client::Client& client, client::Informer& nodes, NodeIpamOptions options,
                                                            client::EventRecorder* events = nullptr);
  void start() { loop_.start(1); }
  void stop() { loop_.stop(); }
  Result<Requeue> reconcile(const std::string& nodeName);
  size_t rangesInUse();

 private:
  NodeIpamController(client::Client& client, client::Informer& nodes, network::CidrSet set, client::EventRecorder* events);
  // Marks what the cached Nodes already hold (the first reconcile after start).
  void prime();
  // Records a range a Node holds; false (with the reason) when it cannot be this node's.
  bool claim(const std::string& node, const network::Ipv4Cidr& cidr, std::string& why);
  void releaseNode(const std::string& node);
  Result<Requeue> assign(const client::ObjectPtr& node, const std::string& name);

  client::Client& client_;
  client::Informer& nodes_;
  client::EventRecorder* events_;
  std::mutex mutex_;
  network::CidrSet set_;
  bool primed_ = false;
  std::map<std::string, network::Ipv4Cidr> byNode_;  // ranges the set holds, by the node holding them
  std::set<std::string> warned_;                     // "node range" pairs already reported
  ReconcileLoop loop_;
};

}  // namespace skiff::controller
