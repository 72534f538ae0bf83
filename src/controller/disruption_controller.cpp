#include "controller/disruption_controller.h"

#include <boost/json.hpp>

#include <map>
#include <set>

#include "api/object.h"
#include "common/log.h"
#include "controller/workload.h"

namespace skiff::controller {
namespace json = boost::json;

DisruptionPod disruptionPodOf(const json::value& pod) {
  DisruptionPod p;
  p.name = api::stringAt(pod, "metadata.name");
  p.ready = isPodReady(pod);
  p.deleting = api::valueAt(pod, "metadata.deletionTimestamp") != nullptr;
  if (const json::value* ref = controllerRef(pod)) {
    p.ownerApiVersion = api::stringAt(*ref, "apiVersion");
    p.ownerKind = api::stringAt(*ref, "kind");
    p.ownerName = api::stringAt(*ref, "name");
    p.ownerUid = api::stringAt(*ref, "uid");
  }
  return p;
}

namespace {

// The sum of the replicas the selected pods' controllers want, each controller counted once.
struct ExpectedScale {
  int64_t pods = 0;
  std::vector<std::string> unmanaged;
  std::string error;
};

ExpectedScale expectedScale(const std::vector<DisruptionPod>& pods, const ScaleFinder& scaleOf) {
  ExpectedScale out;
  std::set<std::string> seenOwners;
  std::map<std::string, int64_t> byController;  // a Deployment once, however many of its ReplicaSets own pods
  for (const auto& pod : pods) {
    if (pod.ownerUid.empty()) {
      out.unmanaged.push_back(pod.name);
      continue;
    }
    if (!seenOwners.insert(pod.ownerUid).second) continue;
    auto scale = scaleOf(pod);
    if (!scale) {
      out.error = "found no controllers for pod \"" + pod.name + "\"";
      return out;
    }
    byController[scale->uid] = scale->replicas;
  }
  for (const auto& [uid, replicas] : byController) out.pods += replicas;
  return out;
}

}  // namespace

DisruptionComputation computeDisruptionStatus(const api::DisruptionBudget& budget, const std::vector<DisruptionPod>& pods,
                                              const ScaleFinder& scaleOf, int64_t now) {
  DisruptionComputation c;
  api::DisruptionBudgetStatus& s = c.status;
  if (budget.maxUnavailable || (budget.minAvailable && budget.minAvailable->percent)) {
    ExpectedScale scale = expectedScale(pods, scaleOf);
    c.unmanagedPods = std::move(scale.unmanaged);
    if (!scale.error.empty()) {
      c.syncError = scale.error;
      return c;
    }
    s.expectedPods = scale.pods;
    if (budget.maxUnavailable) s.desiredHealthy = std::max<int64_t>(0, s.expectedPods - budget.maxUnavailable->scaled(s.expectedPods, true));
    else s.desiredHealthy = budget.minAvailable->scaled(s.expectedPods, true);
  } else if (budget.minAvailable) {
    s.expectedPods = int64_t(pods.size());
    s.desiredHealthy = budget.minAvailable->value;
  }
  // Evictions the API admitted whose deletion has not shown up yet: not healthy for two minutes.
  for (const auto& pod : pods) {
    if (pod.deleting) continue;
    auto it = budget.status.disruptedPods.find(pod.name);
    if (it == budget.status.disruptedPods.end()) continue;
    int64_t expires = it->second + api::kDisruptedPodTimeoutSeconds;
    if (expires <= now) continue;  // the eviction's deletion never came: count the pod again
    s.disruptedPods[pod.name] = it->second;
    if (!c.recheckAt || expires < *c.recheckAt) c.recheckAt = expires;
  }
  for (const auto& pod : pods)
    if (!pod.deleting && !s.disruptedPods.count(pod.name) && pod.ready) ++s.currentHealthy;
  s.disruptionsAllowed = s.currentHealthy - s.desiredHealthy;
  // Nothing expected yet (a budget created before its pods): safe until pods appear.
  if (s.expectedPods <= 0 || s.disruptionsAllowed < 0) s.disruptionsAllowed = 0;
  s.observedGeneration = budget.generation;
  return c;
}

DisruptionController::DisruptionController(client::Client& client, client::Informer& budgets, client::Informer& pods,
                                           client::Informer& replicaSets, client::Informer& deployments,
                                           client::Informer& statefulSets, client::EventRecorder* events)
    : client_(client), budgets_(budgets), pods_(pods), replicaSets_(replicaSets), deployments_(deployments),
      statefulSets_(statefulSets), events_(events),
      loop_("disruption-controller", [this](const std::string& key) { return reconcile(key); }) {
  budgets_.addHandler([this](const std::string&, const client::ObjectPtr& pdb, const client::ObjectPtr&) { loop_.queue().add(client::keyOf(*pdb)); });
  pods_.addHandler([this](const std::string&, const client::ObjectPtr& pod, const client::ObjectPtr& old) {
    enqueueBudgetsOf(*pod);
    if (old) enqueueBudgetsOf(*old);  // labels may have changed: the budget it left recounts too
  });
}

void DisruptionController::enqueueBudgetsOf(const json::value& pod) {
  const json::value* labels = api::valueAt(pod, "metadata.labels");
  for (const auto& pdb : budgets_.list(api::stringAt(pod, "metadata.namespace"))) {
    const json::value* sel = api::valueAt(*pdb, "spec.selector");
    if (!sel || sel->is_null()) continue;
    if (auto selector = api::LabelSelector::fromObject(*sel); selector && selector->matches(labels)) loop_.queue().add(client::keyOf(*pdb));
  }
}

std::optional<ControllerScale> DisruptionController::scaleOf(const std::string& ns, const DisruptionPod& pod) const {
  auto group = [](const std::string& apiVersion) { return apiVersion.find('/') == std::string::npos ? "" : apiVersion.substr(0, apiVersion.find('/')); };
  auto replicas = [](const json::value& o) { return intAt(o, "spec.replicas", 1); };
  if (pod.ownerKind == "ReplicaSet" && group(pod.ownerApiVersion) == "apps") {
    client::ObjectPtr rs = replicaSets_.get(ns, pod.ownerName);
    if (!rs || api::stringAt(*rs, "metadata.uid") != pod.ownerUid) return std::nullopt;
    // A Deployment's ReplicaSet: the Deployment's replicas count, not the ReplicaSet's.
    if (const json::value* ref = controllerRef(*rs); ref && api::stringAt(*ref, "kind") == "Deployment") {
      client::ObjectPtr d = deployments_.get(ns, api::stringAt(*ref, "name"));
      if (!d || api::stringAt(*d, "metadata.uid") != api::stringAt(*ref, "uid")) return std::nullopt;
      return ControllerScale{api::stringAt(*d, "metadata.uid"), replicas(*d)};
    }
    return ControllerScale{pod.ownerUid, replicas(*rs)};
  }
  if (pod.ownerKind == "StatefulSet" && group(pod.ownerApiVersion) == "apps") {
    client::ObjectPtr sts = statefulSets_.get(ns, pod.ownerName);
    if (!sts || api::stringAt(*sts, "metadata.uid") != pod.ownerUid) return std::nullopt;
    return ControllerScale{pod.ownerUid, replicas(*sts)};
  }
  return std::nullopt;
}

Result<Requeue> DisruptionController::reconcile(const std::string& key) {
  auto [ns, name] = client::splitKey(key);
  client::ObjectPtr pdb = budgets_.get(ns, name);
  if (!pdb || api::valueAt(*pdb, "metadata.deletionTimestamp")) return Requeue::done();
  auto budget = api::disruptionBudgetOf(*pdb);
  if (!budget) return Requeue::done();  // validation refuses what cannot be read; nothing to compute
  std::vector<DisruptionPod> pods;
  if (budget->selector)
    for (const auto& pod : pods_.list(ns, &*budget->selector)) pods.push_back(disruptionPodOf(*pod));
  int64_t now = nowSeconds();
  DisruptionComputation c =
      computeDisruptionStatus(*budget, pods, [&](const DisruptionPod& p) { return scaleOf(ns, p); }, now);
  if (pods.empty() && events_) events_->normal(*pdb, "NoPods", "No matching pods found");
  if (!c.unmanagedPods.empty() && events_)
    events_->warning(*pdb, "CalculateExpectedPodCountFailed",
                     "Pods selected by this PodDisruptionBudget (selector: " + budget->selector->text() +
                         ") were found to be unmanaged. As a result, the status of the PDB cannot be calculated correctly, "
                         "which may result in undefined behavior. To account for these pods please set \".spec.minAvailable\" "
                         "field of the PDB to an integer value.");
  json::object status;
  const json::value* current = api::valueAt(*pdb, "status");
  if (!c.syncError.empty()) {
    // Fail safe as Kubernetes does: what was known stays, but nothing may be disrupted.
    if (events_) events_->warning(*pdb, "CalculateExpectedPodCountFailed", "Failed to calculate the number of expected pods: " + c.syncError);
    status = api::statusFields(budget->status);
    status["disruptionsAllowed"] = 0;
    status["conditions"] = api::withDisruptionAllowedCondition(current ? api::valueAt(*current, "conditions") : nullptr, 0,
                                                               budget->status.observedGeneration, c.syncError, now);
  } else {
    status = api::statusFields(c.status);
    status["conditions"] = api::withDisruptionAllowedCondition(current ? api::valueAt(*current, "conditions") : nullptr,
                                                               c.status.disruptionsAllowed, c.status.observedGeneration, "", now);
  }
  if (!sameStatus(current, status)) {
    // The whole status with the resourceVersion read: an eviction writing it meanwhile wins, and
    // the conflict brings this budget back with the eviction's entry in the cache.
    json::value next = *pdb;
    next.get_object()["status"] = std::move(status);
    auto r = client_.update(budgets_.type(), ns, name, std::move(next), "status");
    if (!r && r.error().code != 404) return r.error();
  }
  if (!c.syncError.empty()) return Error::internal(c.syncError);  // retried with back-off
  if (c.recheckAt) return Requeue::in(std::chrono::seconds(std::max<int64_t>(1, *c.recheckAt - now)));
  return Requeue::done();
}

}  // namespace skiff::controller
