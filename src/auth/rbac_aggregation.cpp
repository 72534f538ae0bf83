#include "auth/rbac_aggregation.h"

#include <algorithm>

namespace skiff::auth {
namespace json = boost::json;
namespace {

bool sameRule(const PolicyRule& a, const PolicyRule& b) {
  return a.verbs == b.verbs && a.apiGroups == b.apiGroups && a.resources == b.resources &&
         a.resourceNames == b.resourceNames && a.nonResourceURLs == b.nonResourceURLs;
}

}  // namespace

Result<std::vector<api::LabelSelector>> parseAggregationRule(const json::value* rule) {
  std::vector<api::LabelSelector> out;
  if (!rule || rule->is_null()) return out;
  const std::string field = "aggregationRule.clusterRoleSelectors";
  const json::value* selectors = rule->is_object() ? rule->get_object().if_contains("clusterRoleSelectors") : nullptr;
  if (!selectors || !selectors->is_array()) {
    Error e = Error::invalid(field + ": Required value: a list of label selectors");
    e.causes.push_back({"FieldValueRequired", "a list of label selectors", field});
    return e;
  }
  std::vector<FieldCause> causes;
  const auto& arr = selectors->get_array();
  for (std::size_t i = 0; i < arr.size(); ++i) {
    std::string path = field + "[" + std::to_string(i) + "]";
    auto sel = api::LabelSelector::fromObject(arr[i]);
    if (!sel.ok()) {
      causes.push_back({"FieldValueInvalid", sel.error().message, path});
      continue;
    }
    out.push_back(std::move(*sel));
  }
  if (causes.empty()) return out;
  std::string msg;
  for (const auto& c : causes) msg += (msg.empty() ? "" : ", ") + c.field + ": Invalid value: " + c.message;
  Error e = Error::invalid(msg);
  e.causes = std::move(causes);
  return e;
}

std::vector<PolicyRule> aggregatedRules(const ClusterRoleView& target, const std::vector<ClusterRoleView>& roles) {
  std::vector<const ClusterRoleView*> matched;
  for (const auto& role : roles) {
    if (role.name == target.name) continue;
    const json::value* labels = &role.labels;
    if (std::any_of(target.aggregation.begin(), target.aggregation.end(),
                    [&](const api::LabelSelector& s) { return s.matches(labels); }))
      matched.push_back(&role);
  }
  std::sort(matched.begin(), matched.end(), [](auto* a, auto* b) { return a->name < b->name; });
  std::vector<PolicyRule> out;
  for (const auto* role : matched)
    for (const auto& rule : role->rules)
      if (std::none_of(out.begin(), out.end(), [&](const PolicyRule& r) { return sameRule(r, rule); }))
        out.push_back(rule);
  return out;
}

}  // namespace skiff::auth
