#include "controller/clusterrole_aggregation_controller.h"

#include <boost/json.hpp>

#include "api/object.h"
#include "api/resources.h"
#include "auth/rbac_aggregation.h"

namespace skiff::controller {
namespace json = boost::json;

namespace {
bool isAggregated(const json::value& role) {
  const json::value* rule = api::valueAt(role, "aggregationRule.clusterRoleSelectors");
  return rule && rule->is_array() && !rule->get_array().empty();
}

auth::ClusterRoleView viewOf(const json::value& role) {
  auth::ClusterRoleView v;
  v.name = api::stringAt(role, "metadata.name");
  if (const json::value* labels = api::valueAt(role, "metadata.labels")) v.labels = *labels;
  const json::value* rules = role.is_object() ? role.get_object().if_contains("rules") : nullptr;
  if (auto parsed = auth::parsePolicyRules(rules, "rules", false)) v.rules = std::move(*parsed);
  const json::value* agg = role.is_object() ? role.get_object().if_contains("aggregationRule") : nullptr;
  if (auto selectors = auth::parseAggregationRule(agg)) v.aggregation = std::move(*selectors);
  return v;
}

// A rule as the API writes it: empty lists left out.
json::value ruleJson(const auth::PolicyRule& r) {
  json::object o{{"verbs", api::stringArray(r.verbs)}};
  if (!r.apiGroups.empty()) o["apiGroups"] = api::stringArray(r.apiGroups);
  if (!r.resources.empty()) o["resources"] = api::stringArray(r.resources);
  if (!r.resourceNames.empty()) o["resourceNames"] = api::stringArray(r.resourceNames);
  if (!r.nonResourceURLs.empty()) o["nonResourceURLs"] = api::stringArray(r.nonResourceURLs);
  return o;
}
}  // namespace

ClusterRoleAggregationController::ClusterRoleAggregationController(client::Client& client, client::Informer& clusterRoles)
    : client_(client),
      clusterRoles_(clusterRoles),
      loop_("clusterrole-aggregation-controller", [this](const std::string& name) { return reconcile(name); }) {
  clusterRoles_.addHandler([this](const std::string&, const client::ObjectPtr&, const client::ObjectPtr&) {
    for (const auto& role : clusterRoles_.list())
      if (isAggregated(*role)) loop_.queue().add(api::stringAt(*role, "metadata.name"));
  });
}

Result<Requeue> ClusterRoleAggregationController::reconcile(const std::string& name) {
  client::ObjectPtr target = clusterRoles_.get("", name);
  if (!target || !isAggregated(*target)) return Requeue::done();
  std::vector<auth::ClusterRoleView> views;
  for (const auto& role : clusterRoles_.list()) views.push_back(viewOf(*role));
  json::array rules;
  for (const auto& r : auth::aggregatedRules(viewOf(*target), views)) rules.push_back(ruleJson(r));
  const json::value* current = target->is_object() ? target->get_object().if_contains("rules") : nullptr;
  if (current && current->is_array() && current->get_array() == rules) return Requeue::done();
  if (!current && rules.empty()) return Requeue::done();
  json::value next = *target;
  next.as_object()["rules"] = std::move(rules);
  auto r = client_.update(*api::findByKind("rbac.authorization.k8s.io/v1", "ClusterRole"), "", name, std::move(next), "");
  if (!r) {
    if (r.error().code == 404) return Requeue::done();
    return r.error();  // a conflict: the next event or the retry reads the new version
  }
  return Requeue::done();
}

}  // namespace skiff::controller
