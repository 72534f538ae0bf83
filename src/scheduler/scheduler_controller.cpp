#include "scheduler/scheduler_controller.h"

#include <boost/json.hpp>

#include "api/object.h"
#include "common/log.h"
#include "observe/metrics.h"

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

SchedulerController::SchedulerController(client::Client& client, client::Informer& pods,
                                         client::Informer& nodes, int workers, client::EventRecorder* events, VolumeView volumes)
    : client_(client), pods_(pods), nodes_(nodes), workers_(workers), events_(events), volumes_(std::move(volumes)) {
  pods_.addHandler([this](const std::string& t, const client::ObjectPtr& p, const client::ObjectPtr& o) { onPod(t, p, o); });
  nodes_.addHandler([this](const std::string& t, const client::ObjectPtr& n, const client::ObjectPtr&) { onNode(t, n); });
}

void SchedulerController::onNode(const std::string& type, const client::ObjectPtr& node) {
  std::string name = api::stringAt(*node, "metadata.name");
  bool becameUsable = false;
  {
    std::lock_guard lock(usageMutex_);
    auto it = index_.find(name);
    if (type == "DELETED") {
      if (it == index_.end()) return;
      size_t i = it->second, last = infos_.size() - 1;
      orphanUsage_[name] = infos_[i].requested;
      orphanPods_[name] = std::move(infos_[i].pods);
      if (i != last) {
        infos_[i] = std::move(infos_[last]);
        nodeObjects_[i] = std::move(nodeObjects_[last]);
        index_[infos_[i].name] = i;
      }
      infos_.pop_back();
      nodeObjects_.pop_back();
      index_.erase(name);
      return;
    }
    NodeInfo info = makeNodeInfo(*node);
    if (it == index_.end()) {
      if (auto o = orphanUsage_.find(name); o != orphanUsage_.end()) {
        info.requested = o->second;
        orphanUsage_.erase(o);
      }
      if (auto o = orphanPods_.find(name); o != orphanPods_.end()) {
        info.pods = std::move(o->second);
        orphanPods_.erase(o);
      }
      index_[name] = infos_.size();
      infos_.push_back(std::move(info));
      nodeObjects_.push_back(node);
      becameUsable = true;
    } else {
      size_t i = it->second;
      becameUsable = true;  // readiness, taints or labels may have changed; node updates are rare
      info.requested = infos_[i].requested;
      info.pods = std::move(infos_[i].pods);
      infos_[i] = std::move(info);
      nodeObjects_[i] = node;
    }
  }
  if (becameUsable) retryUnschedulable();
}

SchedulerController::PodsOnNode* SchedulerController::podsOn(const std::string& node) {
  auto it = index_.find(node);
  return it == index_.end() ? &orphanPods_[node] : &infos_[it->second].pods;
}


Resources* SchedulerController::requestedOn(const std::string& node) {
  auto it = index_.find(node);
  return it == index_.end() ? &orphanUsage_[node] : &infos_[it->second].requested;
}

void SchedulerController::onPod(const std::string& type, const client::ObjectPtr& pod, const client::ObjectPtr&) {
  std::string key = client::keyOf(*pod);
  if (type == "DELETED" || !holdsResources(*pod)) {
    unaccount(key);
  } else {
    auto summary = std::make_shared<PodSummary>();
    summary->key = key;
    summary->ns = api::stringAt(*pod, "metadata.namespace");
    if (const json::value* l = api::valueAt(*pod, "metadata.labels")) summary->labels = json::serialize(*l);
    if (const json::value* p = api::valueAt(*pod, "spec.priority"); p && p->is_int64()) summary->priority = p->get_int64();
    summary->terminating = api::valueAt(*pod, "metadata.deletionTimestamp") != nullptr;
    account(key, api::stringAt(*pod, "spec.nodeName"), podRequests(*pod), std::move(summary));
  }
  if (type != "DELETED" && isPending(*pod)) queue_.add(key);
  if (type == "DELETED" || (type == "MODIFIED" && !holdsResources(*pod))) retryUnschedulable();  // room freed
}

void SchedulerController::account(const std::string& podKey, const std::string& node, const Resources& r,
                                  std::shared_ptr<const PodSummary> summary) {
  std::lock_guard lock(usageMutex_);
  auto it = placed_.find(podKey);
  if (summary) (*podsOn(node))[podKey] = summary;  // labels may have changed even when the node did not
  if (it != placed_.end()) {
    if (it->second.first == node) return;  // already counted (assumed or seen)
    if (summary) podsOn(it->second.first)->erase(podKey);
    Resources& u = *requestedOn(it->second.first);
    u.milliCpu -= it->second.second.milliCpu;
    u.memory -= it->second.second.memory;
    u.pods -= it->second.second.pods;
  }
  placed_[podKey] = {node, r};
  *requestedOn(node) += r;
}

void SchedulerController::unaccount(const std::string& podKey) {
  std::lock_guard lock(usageMutex_);
  auto it = placed_.find(podKey);
  if (it == placed_.end()) return;
  Resources& u = *requestedOn(it->second.first);
  u.milliCpu -= it->second.second.milliCpu;
  u.memory -= it->second.second.memory;
  u.pods -= it->second.second.pods;
  podsOn(it->second.first)->erase(podKey);
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

// As kube-scheduler's VolumeBinding plugin: a claim bound to a node-local volume pins the pod to
// that node; a WaitForFirstConsumer claim not bound yet binds on whichever node is chosen; an
// Immediate claim not bound yet (or a missing claim) keeps the pod waiting.
SchedulerController::VolumePlan SchedulerController::volumePlan(const json::value& pod) const {
  VolumePlan plan;
  if (!volumes_.claim) return plan;
  std::string ns = api::stringAt(pod, "metadata.namespace");
  for (const auto& v : api::arrayAt(pod, "spec.volumes")) {
    std::string claimName = api::stringAt(v, "persistentVolumeClaim.claimName");
    if (claimName.empty()) continue;
    client::ObjectPtr claim = volumes_.claim(ns, claimName);
    if (!claim) {
      plan.unschedulable = "0/0 nodes are available: persistentvolumeclaim \"" + claimName + "\" not found.";
      return plan;
    }
    std::string volumeName = api::stringAt(*claim, "spec.volumeName");
    if (volumeName.empty()) {
      client::ObjectPtr cls = volumes_.storageClass(api::stringAt(*claim, "spec.storageClassName"));
      if (cls && api::stringAt(*cls, "volumeBindingMode") == "WaitForFirstConsumer") {
        plan.waitingClaims.emplace_back(ns, claimName);
        continue;
      }
      plan.unschedulable = "0/0 nodes are available: pod has unbound immediate PersistentVolumeClaims.";
      plan.retrySoon = true;
      return plan;
    }
    client::ObjectPtr volume = volumes_.volume(volumeName);
    if (!volume) {
      plan.retrySoon = true;
      plan.unschedulable = "0/0 nodes are available: persistentvolume \"" + volumeName + "\" not found.";
      return plan;
    }
    for (const auto& term : api::arrayAt(*volume, "spec.nodeAffinity.required.nodeSelectorTerms"))
      for (const auto& e : api::arrayAt(term, "matchExpressions")) {
        auto values = api::stringsAt(e, "values");
        if (api::stringAt(e, "key") != "kubernetes.io/hostname" || api::stringAt(e, "operator") != "In" || values.size() != 1) continue;
        if (!plan.pinnedNode.empty() && plan.pinnedNode != values[0]) {
          plan.unschedulable = "0/0 nodes are available: the pod's volumes are on different nodes (" + plan.pinnedNode + ", " + values[0] + ").";
          return plan;
        }
        plan.pinnedNode = values[0];
      }
  }
  return plan;
}

void SchedulerController::scheduleOne(const std::string& key) {
  auto [ns, name] = client::splitKey(key);
  client::ObjectPtr pod = pods_.get(ns, name);
  if (!pod || !isPending(*pod)) return;
  ++attempts_;
  static observe::Family<observe::Counter> attemptsMetric("scheduler_schedule_attempts_total",
                                                          "Scheduling attempts by result.", {"result"});
  static observe::Family<observe::Histogram> attemptLatency("scheduler_scheduling_attempt_duration_seconds",
                                                            "Time to decide and bind one pod.", {"result"});
  auto attemptStart = std::chrono::steady_clock::now();
  struct Report {
    std::chrono::steady_clock::time_point start;
    std::string result = "error";
    ~Report() {
      attemptsMetric.with({result}).inc();
      attemptLatency.with({result}).observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
  } report{attemptStart};
  Decision d;
  Resources req = podRequests(*pod);
  VolumePlan volumes = volumePlan(*pod);
  // A pinned pod is scheduled as if it selected that node's hostname label.
  json::value pinned;
  if (!volumes.pinnedNode.empty()) {
    pinned = *pod;
    json::value& selector = api::ensurePath(pinned, "spec.nodeSelector");
    if (!selector.is_object()) selector = json::object();
    selector.as_object()["kubernetes.io/hostname"] = volumes.pinnedNode;
  }
  const json::value& candidate = volumes.pinnedNode.empty() ? *pod : pinned;
  if (!volumes.unschedulable.empty()) {
    d.message = volumes.unschedulable;
    if (volumes.retrySoon) {
      report.result = "unschedulable";
      queue_.addAfter(key, std::chrono::milliseconds(250));
      return;
    }
  } else {
    // Decide and assume under one lock, so parallel workers never overbook a node.
    std::lock_guard lock(usageMutex_);
    d = schedule(candidate, infos_, infos_.empty() ? 0 : size_t(rotation_++ % infos_.size()));
    if (!d.node.empty()) {
      placed_[key] = {d.node, req};
      *requestedOn(d.node) += req;
      auto summary = std::make_shared<PodSummary>();
      summary->key = key;
      summary->ns = ns;
      if (const json::value* l = api::valueAt(*pod, "metadata.labels")) summary->labels = json::serialize(*l);
      (*podsOn(d.node))[key] = std::move(summary);
    }
  }
  if (d.node.empty()) {
    report.result = "unschedulable";
    // Preemption: make room by evicting lower-priority pods, unless victims are still leaving.
    std::optional<Preemption> plan;
    {
      std::lock_guard lock(usageMutex_);
      std::string nominated = api::stringAt(*pod, "status.nominatedNodeName");
      bool waiting = false;
      if (auto it = index_.find(nominated); !nominated.empty() && it != index_.end())
        for (const auto& [k, p] : infos_[it->second].pods) waiting = waiting || p->terminating;
      if (!waiting && volumes.unschedulable.empty())
        plan = findPreemption(candidate, infos_, [this](const std::string& podKey) {
          auto it = placed_.find(podKey);
          return it == placed_.end() ? Resources{} : it->second.second;
        });
    }
    if (plan) {
      const api::ResourceType& podType = *api::findByKind("v1", "Pod");
      for (const auto& victim : plan->victims) {
        auto [vns, vname] = client::splitKey(victim);
        if (auto v = pods_.get(vns, vname); v && events_)
          events_->normal(*v, "Preempted", "Preempted by pod " + std::string(api::stringAt(*pod, "metadata.uid")) + " on node " + plan->node);
        auto r = client_.remove(podType, vns, vname);
        if (!r && r.error().code != 404) log::warn("scheduler", "preempting " + victim + ": " + r.error().message);
      }
      auto r = client_.patch(podType, ns, name, client::PatchType::Merge,
                               json::object{{"status", json::object{{"nominatedNodeName", plan->node}}}}, "status");
      (void)r;
      report.result = "preempting";
      queue_.addAfter(key, std::chrono::milliseconds(200));
      return;
    }
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
    if (events_) events_->warning(*pod, "FailedScheduling", d.message);
    auto r = client_.patch(*api::findByKind("v1", "Pod"), ns, name, client::PatchType::Strategic, patch, "status");
    if (!r && r.error().code != 404) log::warn("scheduler", "recording why " + key + " is unschedulable: " + r.error().message);
    return;
  }
  // WaitForFirstConsumer claims learn their node before the pod binds to it.
  for (const auto& [cns, cname] : volumes.waitingClaims) {
    auto r = client_.patch(*api::findByKind("v1", "PersistentVolumeClaim"), cns, cname, client::PatchType::Merge,
                           json::object{{"metadata", json::object{{"annotations", json::object{{"volume.kubernetes.io/selected-node", d.node}}}}}}, "");
    if (!r && r.error().code != 404) log::warn("scheduler", "selecting node " + d.node + " for claim " + cns + "/" + cname + ": " + r.error().message);
  }
  auto bound = client_.bind(ns, name, d.node);
  if (!bound) {
    unaccount(key);
    if (bound.error().code == 404 || bound.error().code == 409) return;  // deleted or bound meanwhile
    log::warn("scheduler", "binding " + key + " to " + d.node + " failed: " + bound.error().message);
    queue_.retry(key);
    return;
  }
  ++scheduled_;
  report.result = "scheduled";
  if (events_) events_->normal(*pod, "Scheduled", "Successfully assigned " + key + " to " + d.node);
}

}  // namespace skiff::scheduler
