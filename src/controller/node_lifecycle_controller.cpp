#include "controller/node_lifecycle_controller.h"

#include <set>

#include <boost/json.hpp>

#include "api/object.h"
#include "common/log.h"
#include "controller/workload.h"
#include "scheduler/scheduler.h"

namespace skiff::controller {
namespace json = boost::json;

namespace {
constexpr const char* kUnreachable = "node.kubernetes.io/unreachable";
constexpr const char* kNetworkUnavailable = "node.kubernetes.io/network-unavailable";

std::string conditionStatus(const json::value& node, std::string_view type) {
  for (const auto& c : api::arrayAt(node, "status.conditions"))
    if (api::stringAt(c, "type") == type) return api::stringAt(c, "status");
  return "";
}

bool hasTaint(const json::value& node, std::string_view key) {
  for (const auto& t : api::arrayAt(node, "spec.taints"))
    if (api::stringAt(t, "key") == key) return true;
  return false;
}

const json::value* nodeReadyCondition(const json::value& node) {
  const json::value* conds = api::valueAt(node, "status.conditions");
  if (!conds || !conds->is_array()) return nullptr;
  for (const auto& c : conds->get_array())
    if (api::stringAt(c, "type") == "Ready") return &c;
  return nullptr;
}

const json::value* unreachableTaint(const json::value& node) {
  const json::value* taints = api::valueAt(node, "spec.taints");
  if (!taints || !taints->is_array()) return nullptr;
  for (const auto& t : taints->get_array())
    if (api::stringAt(t, "key") == kUnreachable && api::stringAt(t, "effect") == "NoExecute") return &t;
  return nullptr;
}

// Seconds the pod tolerates the taint: -1 forever, 0 not at all.
int64_t toleratedSeconds(const json::value& pod, const json::value& taint) {
  if (!scheduler::tolerates(pod, taint)) return 0;
  int64_t best = 0;
  const json::value* tols = api::valueAt(pod, "spec.tolerations");
  for (const auto& t : tols->get_array()) {
    json::value one = json::object{{"spec", json::object{{"tolerations", json::array{t}}}}};
    if (!scheduler::tolerates(one, taint)) continue;
    const json::value* secs = api::valueAt(t, "tolerationSeconds");
    if (!secs || !secs->is_int64()) return -1;
    best = std::max(best, std::max<int64_t>(secs->get_int64(), 0));
  }
  return best;
}
}  // namespace

void NodeLifecycleController::start() {
  thread_ = std::thread([this] {
    while (!stopping_) {
      std::this_thread::sleep_for(options_.interval);
      try {
        tick();
      } catch (const std::exception& e) {
        log::error("node-lifecycle", e.what());
      }
    }
  });
}

void NodeLifecycleController::stop() {
  if (stopping_.exchange(true)) return;
  if (thread_.joinable()) thread_.join();
}

// Kubernetes' TaintNodesByCondition: a node whose network plugin reports NetworkUnavailable=True
// gets node.kubernetes.io/network-unavailable:NoSchedule, so the scheduler sends no new pods
// there; the taint goes when the condition does.
void NodeLifecycleController::syncConditionTaints(const json::value& node) {
  bool want = conditionStatus(node, "NetworkUnavailable") == "True";
  if (want == hasTaint(node, kNetworkUnavailable)) return;
  json::array taints;
  for (const auto& t : api::arrayAt(node, "spec.taints"))
    if (api::stringAt(t, "key") != kNetworkUnavailable) taints.push_back(t);
  if (want) taints.push_back(json::object{{"key", kNetworkUnavailable}, {"effect", "NoSchedule"}, {"timeAdded", api::rfc3339Now()}});
  json::object patch{{"metadata", json::object{{"resourceVersion", api::stringAt(node, "metadata.resourceVersion")}}},
                     {"spec", json::object{{"taints", taints}}}};
  auto r = client_.patch(*api::findByKind("v1", "Node"), "", api::stringAt(node, "metadata.name"), client::PatchType::Merge, patch, "");
  if (!r && r.error().code != 409) log::warn("node-lifecycle", "tainting node " + api::stringAt(node, "metadata.name") + ": " + r.error().message);
}

void NodeLifecycleController::tick() {
  const api::ResourceType& nodeType = *api::findByKind("v1", "Node");
  const api::ResourceType& podType = *api::findByKind("v1", "Pod");
  int64_t now = nowSeconds();
  std::vector<std::pair<std::string, int64_t>> tainted;  // node, taint added at
  auto nodes = nodes_.list();
  std::set<std::string> names;
  for (const auto& node : nodes) names.insert(api::stringAt(*node, "metadata.name"));
  std::erase_if(observed_, [&](const auto& entry) { return !names.count(entry.first); });
  for (const auto& node : nodes) {
    std::string name = api::stringAt(*node, "metadata.name");
    client::ObjectPtr lease = leases_.get("kube-node-lease", name);
    if (!lease) continue;  // nodes without a lease are not monitored (none report yet)
    // As kube-controller-manager: a lease is alive while its renewTime keeps changing, timed on
    // this controller's clock, so a node whose clock is off by minutes is judged by its renewals.
    std::string renewTime = api::stringAt(*lease, "spec.renewTime");
    auto steady = std::chrono::steady_clock::now();
    auto [seen, fresh] = observed_.try_emplace(name, Observation{renewTime, steady});
    if (!fresh && seen->second.renewTime != renewTime) seen->second = Observation{renewTime, steady};
    bool stale = steady - seen->second.at > options_.gracePeriod;
    const json::value* taint = unreachableTaint(*node);
    const json::value* ready = nodeReadyCondition(*node);
    std::string readyStatus = ready ? api::stringAt(*ready, "status") : "";
    if (stale && !taint) {
      std::string ts = api::rfc3339Now();
      json::array taints;
      if (const json::value* t = api::valueAt(*node, "spec.taints"); t && t->is_array()) taints = t->get_array();
      taints.push_back(json::object{{"key", kUnreachable}, {"effect", "NoExecute"}, {"timeAdded", ts}});
      auto r = client_.patch(nodeType, "", name, client::PatchType::Merge, json::object{{"spec", json::object{{"taints", taints}}}}, "");
      if (!r) continue;
      auto s = client_.patch(nodeType, "", name, client::PatchType::Strategic,
                               json::object{{"status", json::object{{"conditions", json::array{json::object{
                                   {"type", "Ready"}, {"status", "Unknown"}, {"reason", "NodeStatusUnknown"},
                                   {"message", "Kubelet stopped posting node status."}, {"lastHeartbeatTime", api::stringAt(*lease, "spec.renewTime")},
                                   {"lastTransitionTime", ts}}}}}}},
                               "status");
      (void)s;
      log::warn("node-lifecycle", "node " + name + " stopped renewing its lease: NotReady, tainted unreachable");
      if (events_) events_->normal(*node, "NodeNotReady", "Node " + name + " status is now: NodeNotReady");
      tainted.emplace_back(name, now);
    } else if (!stale && taint) {
      json::array taints;
      for (const auto& t : api::valueAt(*node, "spec.taints")->get_array())
        if (!(api::stringAt(t, "key") == kUnreachable)) taints.push_back(t);
      auto r = client_.patch(nodeType, "", name, client::PatchType::Merge, json::object{{"spec", json::object{{"taints", taints}}}}, "");
      (void)r;
      if (readyStatus != "True") {
        auto s = client_.patch(nodeType, "", name, client::PatchType::Strategic,
                                 json::object{{"status", json::object{{"conditions", json::array{json::object{
                                     {"type", "Ready"}, {"status", "True"}, {"reason", "KubeletReady"}, {"message", "lease renewed"},
                                     {"lastHeartbeatTime", api::rfc3339Now()}, {"lastTransitionTime", api::rfc3339Now()}}}}}}},
                                 "status");
        (void)s;
      }
      log::info("node-lifecycle", "node " + name + " renews its lease again: Ready");
    } else if (stale && taint) {
      tainted.emplace_back(name, api::parseRfc3339(api::stringAt(*taint, "timeAdded")));
    }
  }
  for (const auto& node : nodes) syncConditionTaints(*node);
  if (tainted.empty()) return;
  // Evict pods from unreachable nodes as their tolerations run out.
  json::value taint = json::object{{"key", kUnreachable}, {"effect", "NoExecute"}};
  for (const auto& [node, since] : tainted) {
    for (const auto& pod : pods_.listByNode(node)) {
      if (api::valueAt(*pod, "metadata.deletionTimestamp")) continue;
      int64_t tolerated = toleratedSeconds(*pod, taint);
      if (tolerated < 0 || (tolerated > 0 && now < since + tolerated)) continue;
      auto r = client_.remove(podType, api::stringAt(*pod, "metadata.namespace"), api::stringAt(*pod, "metadata.name"));
      if (r) log::info("node-lifecycle", "evicted " + client::keyOf(*pod) + " from unreachable node " + node);
      if (r && events_) events_->normal(*pod, "TaintManagerEviction", "Marking for deletion Pod " + client::keyOf(*pod));
    }
  }
}

}  // namespace skiff::controller
