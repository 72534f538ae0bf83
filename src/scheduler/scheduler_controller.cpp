#include "scheduler/scheduler_controller.h"

#include <boost/json.hpp>

#include "api/object.h"
#include "common/log.h"

namespace skiff::scheduler {
namespace json = boost::json;

namespace {
bool isPending(const json::value& pod) {
  if (!api::stringAt(pod, "spec.nodeName").empty()) return false;
  if (api::valueAt(pod, "metadata.deletionTimestamp")) return false;
  std::string phase = api::stringAt(pod, "status.phase");
  if (phase == "Succeeded" || phase == "Failed") return false;
  std::string scheduler = api::stringAt(pod, "spec.schedulerName");
  return scheduler.empty() || scheduler == "default-scheduler";
}
bool holdsResources(const json::value& pod) {
  std::string phase = api::stringAt(pod, "status.phase");
  return !api::stringAt(pod, "spec.nodeName").empty() && phase != "Succeeded" && phase != "Failed";
}
}  // namespace

SchedulerController::SchedulerController(apiserver::Registry& registry, controller::Informer& pods,
                                         controller::Informer& nodes, int workers)
    : registry_(registry), pods_(pods), nodes_(nodes), workers_(workers) {
  pods_.addHandler([this](const std::string& t, const controller::ObjectPtr& p, const controller::ObjectPtr& o) { onPod(t, p, o); });
  nodes_.addHandler([this](const std::string&, const controller::ObjectPtr&, const controller::ObjectPtr&) { retryUnschedulable(); });
}

void SchedulerController::onPod(const std::string& type, const controller::ObjectPtr& pod, const controller::ObjectPtr&) {
  std::string key = controller::keyOf(*pod);
  if (type == "DELETED" || !holdsResources(*pod)) unaccount(key);
  else account(key, api::stringAt(*pod, "spec.nodeName"), podRequests(*pod));
  if (type != "DELETED" && isPending(*pod)) queue_.add(key);
  if (type == "DELETED" || (type == "MODIFIED" && !holdsResources(*pod))) retryUnschedulable();  // room freed
}

void SchedulerController::account(const std::string& podKey, const std::string& node, const Resources& r) {
  std::lock_guard lock(usageMutex_);
  auto it = placed_.find(podKey);
  if (it != placed_.end()) {
    if (it->second.first == node) return;  // already counted (assumed or seen)
    Resources& u = usage_[it->second.first];
    u.milliCpu -= it->second.second.milliCpu;
    u.memory -= it->second.second.memory;
    u.pods -= it->second.second.pods;
  }
  placed_[podKey] = {node, r};
  usage_[node] += r;
}

void SchedulerController::unaccount(const std::string& podKey) {
  std::lock_guard lock(usageMutex_);
  auto it = placed_.find(podKey);
  if (it == placed_.end()) return;
  Resources& u = usage_[it->second.first];
  u.milliCpu -= it->second.second.milliCpu;
  u.memory -= it->second.second.memory;
  u.pods -= it->second.second.pods;
  placed_.erase(it);
}

void SchedulerController::retryUnschedulable() {
  std::set<std::string> keys;
  {
    std::lock_guard lock(usageMutex_);
    keys.swap(unschedulable_);
  }
  for (const auto& k : keys) queue_.add(k);
}

void SchedulerController::start() {
  for (int i = 0; i < workers_; ++i) threads_.emplace_back([this] { run(); });
  resync_ = std::thread([this] {
    for (int tick = 0; !stopping_; ++tick) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      if (tick % 50 == 49) retryUnschedulable();
    }
  });
}

void SchedulerController::stop() {
  if (stopping_.exchange(true)) return;
  queue_.shutDown();
  for (auto& t : threads_) t.join();
  if (resync_.joinable()) resync_.join();
}

void SchedulerController::run() {
  while (auto key = queue_.get()) {
    try {
      scheduleOne(*key);
    } catch (const std::exception& e) {
      log::error("scheduler", "scheduling " + *key + " failed: " + e.what());
      queue_.retry(*key);
    }
    queue_.done(*key);
  }
}

void SchedulerController::scheduleOne(const std::string& key) {
  auto [ns, name] = controller::splitKey(key);
  controller::ObjectPtr pod = pods_.get(ns, name);
  if (!pod || !isPending(*pod)) return;
  ++attempts_;
  // Snapshot: the node objects are shared pointers, kept alive for this decision.
  std::vector<controller::ObjectPtr> nodeObjects = nodes_.list();
  std::vector<NodeInfo> infos;
  infos.reserve(nodeObjects.size());
  {
    std::lock_guard lock(usageMutex_);
    for (const auto& n : nodeObjects) {
      NodeInfo info = makeNodeInfo(*n);
      if (auto it = usage_.find(info.name); it != usage_.end()) info.requested = it->second;
      infos.push_back(std::move(info));
    }
  }
  Decision d = schedule(*pod, infos, infos.empty() ? 0 : size_t(rotation_++ % infos.size()));
  if (d.node.empty()) {
    {
      std::lock_guard lock(usageMutex_);
      unschedulable_.insert(key);
    }
    // Record why, once per distinct reason (no write churn while nothing changes).
    const json::value* conds = api::valueAt(*pod, "status.conditions");
    if (conds && conds->is_array())
      for (const auto& c : conds->get_array())
        if (api::stringAt(c, "type") == "PodScheduled" && api::stringAt(c, "message") == d.message) return;
    json::value patch = json::object{
        {"status", json::object{{"conditions", json::array{json::object{{"type", "PodScheduled"}, {"status", "False"},
                                                                       {"reason", "Unschedulable"}, {"message", d.message},
                                                                       {"lastProbeTime", nullptr},
                                                                       {"lastTransitionTime", api::rfc3339Now()}}}}}}};
    auto r = registry_.patch(*api::findByKind("v1", "Pod"), ns, name, apiserver::PatchType::Strategic, patch, "status");
    if (!r && r.error().code != 404) log::warn("scheduler", "recording why " + key + " is unschedulable: " + r.error().message);
    return;
  }
  Resources req = podRequests(*pod);
  account(key, d.node, req);  // assume, so parallel workers see the node's new load
  auto bound = registry_.bind(ns, name, d.node);
  if (!bound) {
    unaccount(key);
    if (bound.error().code == 404 || bound.error().code == 409) return;  // deleted or bound meanwhile
    log::warn("scheduler", "binding " + key + " to " + d.node + " failed: " + bound.error().message);
    queue_.retry(key);
    return;
  }
  ++scheduled_;
}

}  // namespace skiff::scheduler
