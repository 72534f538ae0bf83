// The pods/eviction subresource: POST .../pods/NAME/eviction with a policy/v1 (or v1beta1)
// Eviction deletes the pod unless that would break its PodDisruptionBudget, with Kubernetes'
// semantics:
// - a pod that is Pending, Succeeded, Failed or already being deleted is deleted without looking
//   at budgets (its disruption has happened);
// - no budget selects the pod: deleted; more than one: 500 ("This pod has more than one
//   PodDisruptionBudget, which the eviction subresource does not support.");
// - the budget's status is stale (observedGeneration behind): 429, the controller catches up;
// - a Ready pod: status.disruptionsAllowed is decremented and the pod recorded in
//   status.disruptedPods, in one optimistic-concurrency status write (re-read and retried on
//   conflict), then the pod is deleted; none allowed: 429 TooManyRequests "Cannot evict pod as
//   it would violate the pod's disruption budget." with a DisruptionBudget cause naming it;
// - a pod that is not Ready (unhealthyPodEvictionPolicy IfHealthyBudget, the default) is deleted
//   without spending the budget when the budget is met (currentHealthy >= desiredHealthy > 0),
//   and then only if the pod has not changed since (else 429); AlwaysAllow deletes it the same
//   way whatever the budget. Otherwise it needs a disruption like a Ready pod.
// The decisions are pure functions over typed views; evictPod() does the reads and writes.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "api/disruption_budget.h"
#include "apiserver/registry.h"
#include "common/result.h"

namespace skiff::apiserver {

// What an Eviction body asks, read once.
struct EvictionRequest {
  std::string podName;
  DeleteOptions deleteOptions;
  bool dryRun = false;
};
// Refuses a body that is not a policy/v1 or v1beta1 Eviction, or names another pod than the URL.
Result<EvictionRequest> evictionRequestOf(const boost::json::value& body, const std::string& urlName);

// What the decision needs of the pod, read once.
struct EvictionPod {
  std::string name, resourceVersion, phase;
  bool ready = false;
  bool deleting = false;
  boost::json::value labels;  // object or null
};
EvictionPod evictionPodOf(const boost::json::value& pod);

struct EvictionPlan {
  enum class Step {
    Delete,               // no budget stands in the way
    DeleteIfUnchanged,    // an unhealthy pod the budget lets go: delete with the read resourceVersion
    SpendBudgetThenDelete // a disruption: decrement the budget first
  };
  Step step = Step::Delete;
  std::string budget;  // the budget's name, for the last two
};
// `budgets`: every budget of the pod's namespace.
Result<EvictionPlan> planEviction(const EvictionPod& pod, const std::vector<api::DisruptionBudget>& budgets);

// Kubernetes' checkAndDecrement: the budget's status once this pod's eviction is admitted at
// `now` (seconds since epoch), or the 429 / 403 that refuses it.
Result<api::DisruptionBudgetStatus> admitDisruption(const api::DisruptionBudget& budget, const std::string& podName, int64_t now);

// The 429 every refused eviction answers with; `cause` is the DisruptionBudget cause's message.
Error tooManyRequests(const std::string& cause);

// Carries out an eviction: reads the pod and its namespace's budgets from the registry, spends
// the budget with optimistic concurrency, deletes the pod (nothing is written on a dry run).
// Returns the Status to answer with (201 Success).
Result<boost::json::value> evictPod(Registry& registry, const std::string& ns, const EvictionRequest& request);

}  // namespace skiff::apiserver
