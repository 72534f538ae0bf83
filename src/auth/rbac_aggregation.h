// ClusterRole aggregation (ClusterRole.aggregationRule): a ClusterRole with clusterRoleSelectors
// holds the union of the rules of every other ClusterRole whose labels match one of them — how
// Kubernetes' admin, edit and view roles pick up rules from roles labelled
// rbac.authorization.k8s.io/aggregate-to-{admin,edit,view}. The controller that writes the
// result into `rules` calls aggregatedRules() whenever a ClusterRole changes.
#pragma once
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "api/selector.h"
#include "auth/rbac_rules.h"
#include "common/result.h"

namespace skiff::auth {

struct ClusterRoleView {
  std::string name;
  boost::json::value labels;  // metadata.labels (object or null)
  std::vector<PolicyRule> rules;
  std::vector<api::LabelSelector> aggregation;  // empty: not an aggregated role
};

// `aggregationRule` of a ClusterRole (null when absent); errors name
// aggregationRule.clusterRoleSelectors[i].
Result<std::vector<api::LabelSelector>> parseAggregationRule(const boost::json::value* rule);

// The rules `target` should hold: those of every other role matched by its selectors, in order of
// role name, each distinct rule once (Kubernetes' controller orders and deduplicates the same way,
// so repeated runs write the same object and do not loop).
std::vector<PolicyRule> aggregatedRules(const ClusterRoleView& target, const std::vector<ClusterRoleView>& roles);

}  // namespace skiff::auth
