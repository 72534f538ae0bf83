// PodDisruptionBudget (policy/v1) read once into plain data: what the disruption controller
// (src/controller/disruption_controller.h) and the pods/eviction subresource
// (src/apiserver/pod_eviction.h) decide from. Pure functions, no I/O.
//
// Invariant kept from Kubernetes: a budget without a selector selects no pod, an empty selector
// ({}) every pod of its namespace (the policy/v1 meaning).
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include <boost/json/value.hpp>

#include "api/selector.h"
#include "common/result.h"

namespace skiff::api {

// An IntOrString that holds a count or a percentage ("25%").
struct IntOrPercent {
  int64_t value = 0;
  bool percent = false;
  // nullopt unless an integer or a string of digits followed by '%' (Kubernetes' IsValidPercent).
  static std::optional<IntOrPercent> from(const boost::json::value& v);
  // Kubernetes' GetScaledValueFromIntOrPercent: a count as it is, a percentage of `total`.
  int64_t scaled(int64_t total, bool roundUp) const;
  std::string text() const;  // "2" or "25%", as kubectl prints it
};

// How long an eviction's entry in status.disruptedPods keeps its pod out of currentHealthy while
// the deletion has not shown up (Kubernetes' DeletionTimeout).
inline constexpr int64_t kDisruptedPodTimeoutSeconds = 120;

struct DisruptionBudgetStatus {
  int64_t observedGeneration = 0;
  int64_t disruptionsAllowed = 0;
  int64_t currentHealthy = 0;
  int64_t desiredHealthy = 0;
  int64_t expectedPods = 0;
  std::map<std::string, int64_t> disruptedPods;  // pod name -> when an eviction took it (seconds since epoch)
};

struct DisruptionBudget {
  std::string ns, name, resourceVersion;
  int64_t generation = 0;
  std::optional<LabelSelector> selector;
  std::optional<IntOrPercent> minAvailable, maxUnavailable;
  bool alwaysAllowUnhealthy = false;  // spec.unhealthyPodEvictionPolicy: AlwaysAllow
  DisruptionBudgetStatus status;

  bool selects(const boost::json::value* podLabels) const { return selector && selector->matches(podLabels); }
};

// Fails only on what validation refuses (a malformed selector or int-or-percent).
Result<DisruptionBudget> disruptionBudgetOf(const boost::json::value& pdb);

// `status` as JSON fields (disruptedPods as RFC 3339 times); conditions are the caller's.
boost::json::object statusFields(const DisruptionBudgetStatus& status);

// status.conditions with DisruptionAllowed set as Kubernetes sets it: True/SufficientPods when
// disruptions are allowed, else False/InsufficientPods, or False/SyncFailed with `syncError`.
// lastTransitionTime is kept while the condition's status does not change.
boost::json::array withDisruptionAllowedCondition(const boost::json::value* conditions, int64_t disruptionsAllowed,
                                                  int64_t observedGeneration, const std::string& syncError, int64_t now);

}  // namespace skiff::api
