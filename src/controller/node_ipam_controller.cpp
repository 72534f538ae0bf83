#include "controller/node_ipam_controller.h"

#include <algorithm>
#include <boost/json.hpp>
#include <tuple>

#include "api/object.h"
#include "api/resources.h"
#include "common/log.h"
#include "network/node_addressing.h"

namespace skiff::controller {
namespace json = boost::json;

Result<std::unique_ptr<NodeIpamController>> NodeIpamController::create(client::Client& client, client::Informer& nodes,
                                                                        NodeIpamOptions options, client::EventRecorder* events) {
  auto set = network::CidrSet::create(options.clusterCidr, options.nodeMaskSize);
  if (!set) return set.error();
  return std::unique_ptr<NodeIpamController>(new NodeIpamController(client, nodes, std::move(*set), events));
}

NodeIpamController::NodeIpamController(client::Client& client, client::Informer& nodes, network::CidrSet set,
                                       client::EventRecorder* events)
    : client_(client), nodes_(nodes), events_(events), set_(std::move(set)),
      loop_("node-ipam-controller", [this](const std::string& key) { return reconcile(key); }) {
  nodes_.addHandler([this](const std::string&, const client::ObjectPtr& node, const client::ObjectPtr&) {
    loop_.queue().add(api::stringAt(*node, "metadata.name"));
  });
}

size_t NodeIpamController::rangesInUse() {
  std::lock_guard lock(mutex_);
  return set_.used();
}

bool NodeIpamController::claim(const std::string& node, const network::Ipv4Cidr& cidr, std::string& why) {
  if (auto held = byNode_.find(node); held != byNode_.end()) {
    if (held->second == cidr) return true;
    set_.release(held->second);  // the node's range changed (its Node was replaced)
    byNode_.erase(held);
  }
  if (!set_.cluster().contains(cidr)) {
    why = cidr.str() + " lies outside the cluster CIDR " + set_.cluster().str() + "; it is not managed here";
    return false;
  }
  for (const auto& [other, range] : byNode_)
    if (range.overlaps(cidr)) {
      why = cidr.str() + " overlaps " + range.str() + " of node " + other;
      return false;
    }
  if (Status s = set_.occupy(cidr); !s) {
    why = s.error().message;
    return false;
  }
  byNode_[node] = cidr;
  return true;
}

void NodeIpamController::prime() {
  // Oldest first, so of two Nodes claiming one range the older keeps it. What cannot be claimed
  // is reported when that Node's own reconcile comes (every cached Node is queued at start).
  std::vector<std::pair<std::string, network::NodeAddressing>> all;
  for (const auto& node : nodes_.list()) all.emplace_back(api::stringAt(*node, "metadata.creationTimestamp"), network::nodeAddressingOf(*node));
  std::sort(all.begin(), all.end(), [](const auto& x, const auto& y) { return std::tie(x.first, x.second.name) < std::tie(y.first, y.second.name); });
  for (const auto& [created, n] : all) {
    std::string why;
    if (n.podCidr) (void)claim(n.name, *n.podCidr, why);
  }
  primed_ = true;
}

void NodeIpamController::releaseNode(const std::string& node) {
  std::erase_if(warned_, [&](const std::string& w) { return w.starts_with(node + " "); });
  auto held = byNode_.find(node);
  if (held == byNode_.end()) return;
  log::info("node-ipam", "node " + node + " is gone: " + held->second.str() + " is free again");
  set_.release(held->second);
  byNode_.erase(held);
}

Result<Requeue> NodeIpamController::reconcile(const std::string& name) {
  // Before the cache is filled, "no range seen" would hand out ranges that are taken.
  if (!nodes_.hasSynced()) return Requeue::in(std::chrono::milliseconds(100));
  std::lock_guard lock(mutex_);
  if (!primed_) prime();
  client::ObjectPtr node = nodes_.get("", name);
  if (!node) {
    releaseNode(name);
    return Requeue::done();
  }
  // Hollow nodes (agent/simulated_nodes.h) give their pods addresses of their own and route
  // nothing: a range each would only use up the cluster CIDR at scale.
  if (const json::value* labels = api::valueAt(*node, "metadata.labels"); labels && labels->is_object())
    if (const json::value* simulated = labels->get_object().if_contains("skiff.dev/simulated"); simulated && *simulated == "true")
      return Requeue::done();
  auto n = network::nodeAddressingOf(*node);
  if (!n.podCidrText.empty()) {
    std::string why;
    if (!n.podCidr) why = "spec.podCIDR \"" + n.podCidrText + "\" is not an IPv4 range";
    if (why.empty() && claim(name, *n.podCidr, why)) return Requeue::done();
    if (!warned_.insert(name + " " + n.podCidrText).second) return Requeue::done();
    // A range of the node's own outside the cluster CIDR (`skiff up --pod-cidr`) is its business;
    // one that collides with another node's breaks routing and is reported on the Node.
    if (n.podCidr && !set_.cluster().overlaps(*n.podCidr)) {
      log::info("node-ipam", "node " + name + ": " + why);
      return Requeue::done();
    }
    log::warn("node-ipam", "node " + name + ": " + why);
    if (events_) events_->warning(*node, "CIDRNotAvailable", "Node " + name + " status is now: CIDRNotAvailable (" + why + ")");
    return Requeue::done();
  }
  return assign(node, name);
}

// A node without a range gets the next free one (or the one it held under the same name, when
// its Node was replaced before this controller saw the deletion).
Result<Requeue> NodeIpamController::assign(const client::ObjectPtr& node, const std::string& name) {
  network::Ipv4Cidr cidr;
  if (auto held = byNode_.find(name); held != byNode_.end()) {
    cidr = held->second;
  } else {
    auto next = set_.allocateNext();
    if (!next) {
      if (warned_.insert(name + " full").second) {
        log::warn("node-ipam", "node " + name + ": " + next.error().message);
        if (events_) events_->warning(*node, "CIDRNotAvailable", "Node " + name + " status is now: CIDRNotAvailable (" + next.error().message + ")");
      }
      return Requeue::in(std::chrono::seconds(10));  // a node may leave and free one
    }
    cidr = *next;
    byNode_[name] = cidr;
  }
  // The resourceVersion makes the patch a precondition: a range the node set itself meanwhile
  // is not overwritten (the conflict retries, and the next look claims that range instead).
  json::object patch{{"metadata", json::object{{"resourceVersion", api::stringAt(*node, "metadata.resourceVersion")}}},
                     {"spec", json::object{{"podCIDR", cidr.str()}, {"podCIDRs", json::array{json::string(cidr.str())}}}}};
  auto r = client_.patch(*api::findByKind("v1", "Node"), "", name, client::PatchType::Merge, patch, "");
  if (!r) {
    set_.release(cidr);
    byNode_.erase(name);
    if (r.error().code == 404) return Requeue::done();  // deleted meanwhile
    return r.error();
  }
  log::info("node-ipam", "node " + name + " gets pod range " + cidr.str());
  if (events_) events_->normal(*node, "CIDRAssignmentSucceeded", "Node " + name + " was assigned pod range " + cidr.str());
  return Requeue::done();
}

}  // namespace skiff::controller
