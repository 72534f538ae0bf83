#include "apiserver/pod_eviction.h"

#include <boost/json.hpp>

#include <ctime>

#include "api/object.h"
#include "api/resources.h"

namespace skiff::apiserver {
namespace json = boost::json;

namespace {
// A status write that loses to another writer this many times in a row gives up (Kubernetes'
// EvictionsRetry has 20 steps too).
constexpr int kStatusWriteAttempts = 20;
// More unconfirmed evictions than this in one budget means its controller is not keeping up.
constexpr size_t kMaxDisruptedPods = 2000;

const char* const kBudgetMessage = "Cannot evict pod as it would violate the pod's disruption budget.";

bool podReady(const json::value& pod) {
  if (const json::value* cs = api::valueAt(pod, "status.conditions"); cs && cs->is_array())
    for (const auto& c : cs->get_array())
      if (api::stringAt(c, "type") == "Ready") return api::stringAt(c, "status") == "True";
  return false;
}

// Kubernetes' canIgnorePDB: the pod's disruption has already happened (or never began).
bool canIgnoreBudget(const EvictionPod& pod) {
  return pod.phase == "Succeeded" || pod.phase == "Failed" || pod.phase == "Pending" || pod.deleting;
}

json::value successStatus() {
  return json::object{{"kind", "Status"}, {"apiVersion", "v1"}, {"metadata", json::object()}, {"status", "Success"}, {"code", 201}};
}
}  // namespace

Error tooManyRequests(const std::string& cause) { return Error{429, "TooManyRequests", kBudgetMessage, {{"DisruptionBudget", cause, ""}}}; }

Result<EvictionRequest> evictionRequestOf(const json::value& body, const std::string& urlName) {
  if (!body.is_object()) return Error::badRequest("the request body must be an Eviction object");
  std::string apiVersion = api::stringAt(body, "apiVersion"), kind = api::stringAt(body, "kind");
  // kubectl and client-go always say what they send; a bare body is read as policy/v1.
  if (!kind.empty() && kind != "Eviction") return Error::badRequest("not a Eviction object: " + kind);
  if (!apiVersion.empty() && apiVersion != "policy/v1" && apiVersion != "policy/v1beta1")
    return Error::badRequest("Eviction is served as policy/v1 and policy/v1beta1, not " + apiVersion);
  EvictionRequest r;
  r.podName = api::stringAt(body, "metadata.name");
  if (r.podName != urlName) return Error::badRequest("name in URL does not match name in Eviction object");
  if (const json::value* o = api::valueAt(body, "deleteOptions"); o && o->is_object()) {
    if (const json::value* g = o->get_object().if_contains("gracePeriodSeconds"); g && g->is_int64())
      r.deleteOptions.gracePeriodSeconds = g->get_int64();
    r.deleteOptions.preconditionUid = api::stringAt(*o, "preconditions.uid");
    r.deleteOptions.preconditionResourceVersion = api::stringAt(*o, "preconditions.resourceVersion");
    r.deleteOptions.propagationPolicy = api::stringAt(*o, "propagationPolicy");
    for (const auto& d : api::stringsAt(*o, "dryRun")) {
      if (d != "All") return Error::badRequest("deleteOptions.dryRun must be All, not \"" + d + "\"");
      r.dryRun = true;
    }
  }
  return r;
}

EvictionPod evictionPodOf(const json::value& pod) {
  EvictionPod p;
  p.name = api::stringAt(pod, "metadata.name");
  p.resourceVersion = api::stringAt(pod, "metadata.resourceVersion");
  p.phase = api::stringAt(pod, "status.phase");
  p.ready = podReady(pod);
  p.deleting = api::valueAt(pod, "metadata.deletionTimestamp") != nullptr;
  if (const json::value* l = api::valueAt(pod, "metadata.labels")) p.labels = *l;
  return p;
}

Result<EvictionPlan> planEviction(const EvictionPod& pod, const std::vector<api::DisruptionBudget>& budgets) {
  if (canIgnoreBudget(pod)) return EvictionPlan{};
  std::vector<const api::DisruptionBudget*> matching;
  for (const auto& b : budgets)
    if (b.selects(&pod.labels)) matching.push_back(&b);
  if (matching.size() > 1) return Error{500, "", "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.", {}};
  if (matching.empty()) return EvictionPlan{};
  const api::DisruptionBudget& b = *matching.front();
  if (!pod.ready) {
    // Not healthy, so not counted: letting it go disrupts nothing while the budget is met.
    if (b.alwaysAllowUnhealthy || (b.status.currentHealthy >= b.status.desiredHealthy && b.status.desiredHealthy > 0))
      return EvictionPlan{EvictionPlan::Step::DeleteIfUnchanged, b.name};
  }
  return EvictionPlan{EvictionPlan::Step::SpendBudgetThenDelete, b.name};
}

Result<api::DisruptionBudgetStatus> admitDisruption(const api::DisruptionBudget& budget, const std::string& podName, int64_t now) {
  const api::DisruptionBudgetStatus& s = budget.status;
  if (s.observedGeneration < budget.generation)
    return tooManyRequests("The disruption budget " + budget.name + " is still being processed by the server.");
  if (s.disruptionsAllowed < 0)
    return Error::forbidden("poddisruptionbudgets.policy \"" + budget.name + "\" is forbidden: pdb disruptions allowed is negative");
  if (s.disruptedPods.size() > kMaxDisruptedPods)
    return Error::forbidden("poddisruptionbudgets.policy \"" + budget.name +
                            "\" is forbidden: DisruptedPods map too big - too many evictions not confirmed by PDB controller");
  if (s.disruptionsAllowed == 0)
    return tooManyRequests("The disruption budget " + budget.name + " needs " + std::to_string(s.desiredHealthy) + " healthy pods and has " +
                           std::to_string(s.currentHealthy) + " currently");
  api::DisruptionBudgetStatus next = s;
  --next.disruptionsAllowed;
  next.disruptedPods[podName] = now;
  return next;
}

Result<json::value> evictPod(Registry& registry, const std::string& ns, const EvictionRequest& request) {
  const api::ResourceType& podType = *api::findByKind("v1", "Pod");
  const api::ResourceType& budgetType = *api::findByKind("policy/v1", "PodDisruptionBudget");
  auto podObject = registry.get(podType, ns, request.podName);
  if (!podObject) return podObject.error();
  EvictionPod pod = evictionPodOf(*podObject);
  auto remove = [&](DeleteOptions options) -> Result<json::value> {
    if (request.dryRun) return successStatus();
    auto removed = registry.remove(podType, ns, request.podName, options);
    if (!removed) return removed.error();
    return successStatus();
  };
  bool callerPinnedVersion = !request.deleteOptions.preconditionResourceVersion.empty();
  auto pinned = [&] {
    DeleteOptions o = request.deleteOptions;
    if (!callerPinnedVersion) o.preconditionResourceVersion = pod.resourceVersion;
    return o;
  };

  std::vector<api::DisruptionBudget> budgets;
  if (!canIgnoreBudget(pod)) {
    auto list = registry.list(budgetType, ns, {});
    if (!list) return list.error();
    for (const auto& item : list->items)
      if (auto b = api::disruptionBudgetOf(item)) budgets.push_back(std::move(*b));  // an unreadable selector matches no pod
  } else if (pod.phase == "Pending") {
    // Not yet running: deleted as it is, but only if it has not started running since it was read.
    return remove(pinned());
  }
  auto plan = planEviction(pod, budgets);
  if (!plan) return plan.error();
  switch (plan->step) {
    case EvictionPlan::Step::Delete:
      return remove(request.deleteOptions);
    case EvictionPlan::Step::DeleteIfUnchanged: {
      // The pod must still be the unhealthy one the decision saw.
      auto r = remove(pinned());
      if (!r && r.error().code == 409 && !callerPinnedVersion)
        return tooManyRequests("The disruption budget " + plan->budget + " is still being processed by the server.");
      return r;
    }
    case EvictionPlan::Step::SpendBudgetThenDelete:
      break;
  }
  for (int attempt = 0;; ++attempt) {
    if (attempt == kStatusWriteAttempts)
      return Error{504, "Timeout", "couldn't update PodDisruptionBudget \"" + plan->budget + "\" due to conflicts", {}};
    auto stored = registry.get(budgetType, ns, plan->budget);
    if (!stored) return stored.error();
    auto budget = api::disruptionBudgetOf(*stored);
    if (!budget) return budget.error();
    int64_t now = std::time(nullptr);
    auto next = admitDisruption(*budget, pod.name, now);
    if (!next) return next.error();
    if (request.dryRun) break;
    json::value written = *stored;
    json::object& status = api::ensurePath(written, "status").emplace_object();
    const json::value* conditions = api::valueAt(*stored, "status.conditions");
    status = api::statusFields(*next);
    if (next->disruptionsAllowed == 0)
      status["conditions"] = api::withDisruptionAllowedCondition(conditions, 0, next->observedGeneration, "", now);
    else if (conditions)
      status["conditions"] = *conditions;
    auto r = registry.update(budgetType, ns, plan->budget, std::move(written), "status");
    if (r) break;
    if (r.error().code != 409) return r.error();
  }
  return remove(request.deleteOptions);
}

}  // namespace skiff::apiserver
