// RBAC policy rules (rbac.authorization.k8s.io/v1 PolicyRule): parsing with Kubernetes' field
// paths, matching a request as Kubernetes' RBAC authorizer does, and the escalation check
// ("does the requester already hold every permission these rules grant?").
//
// Matching follows Kubernetes' rbac.RuleAllows: a verb, API group or resource of "*" matches
// anything; a resource may be "pods/log" (resource/subresource) or "*/scale" (that subresource of
// any resource); an empty resourceNames list matches every name; a non-resource URL ending in
// "*" matches every path with that prefix.
#pragma once
#include <string>
#include <vector>

#include <boost/json/fwd.hpp>

#include "auth/request_info.h"
#include "common/result.h"

namespace skiff::auth {

struct PolicyRule {
  std::vector<std::string> verbs, apiGroups, resources, resourceNames, nonResourceURLs;
};

// `rules` as found in a Role or ClusterRole. `field` is the path to name in errors ("rules");
// `namespaced` is true for a Role (which cannot hold non-resource URLs). Errors are 422 Invalid
// with one cause per problem, as Kubernetes' validation reports them.
Result<std::vector<PolicyRule>> parsePolicyRules(const boost::json::value* rules, const std::string& field,
                                                 bool namespaced);

bool ruleAllows(const PolicyRule& rule, const RequestInfo& request);
bool rulesAllow(const std::vector<PolicyRule>& rules, const RequestInfo& request);

// The parts of `requested` that `owner` does not cover, each broken down to one verb, one group,
// one resource and one name (or one URL), as Kubernetes' escalation check reports them; empty
// when the owner holds everything requested.
std::vector<PolicyRule> uncoveredRules(const std::vector<PolicyRule>& owner, const std::vector<PolicyRule>& requested);

// "{APIGroups:[\"\"], Resources:[\"secrets\"], Verbs:[\"get\"]}" — Kubernetes' compact form,
// used in its "attempting to grant RBAC permissions not currently held" message.
std::string compactString(const PolicyRule& rule);

}  // namespace skiff::auth
