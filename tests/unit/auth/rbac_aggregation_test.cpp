#include "auth/rbac_aggregation.h"

#include <gtest/gtest.h>

namespace skiff::auth {
namespace {
namespace json = boost::json;

ClusterRoleView role(std::string name, const char* labels, std::vector<PolicyRule> rules, const char* aggregation = nullptr) {
  ClusterRoleView v{std::move(name), json::parse(labels), std::move(rules), {}};
  if (aggregation) {
    auto agg = json::parse(aggregation);
    auto parsed = parseAggregationRule(&agg);
    EXPECT_TRUE(parsed.ok());
    if (parsed.ok()) v.aggregation = std::move(*parsed);
  }
  return v;
}

PolicyRule read(const std::string& resource) { return {{"get", "list", "watch"}, {""}, {resource}, {}, {}}; }

TEST(RbacAggregation, ViewHoldsTheRulesOfRolesLabelledAggregateToView) {
  auto view = role("view", "{}", {}, R"({"clusterRoleSelectors":[{"matchLabels":{"rbac.authorization.k8s.io/aggregate-to-view":"true"}}]})");
  std::vector<ClusterRoleView> roles{
      view,
      role("system:aggregate-to-view", R"({"rbac.authorization.k8s.io/aggregate-to-view":"true"})", {read("pods"), read("services")}),
      role("crontabs-view", R"({"rbac.authorization.k8s.io/aggregate-to-view":"true"})", {read("pods"), read("crontabs")}),
      role("secrets-reader", R"({"rbac.authorization.k8s.io/aggregate-to-edit":"true"})", {read("secrets")}),
  };
  auto rules = aggregatedRules(view, roles);
  // Ordered by role name, a rule both roles hold appears once, the edit-only role contributes nothing.
  ASSERT_EQ(rules.size(), 3u);
  EXPECT_EQ(rules[0].resources, std::vector<std::string>{"pods"});
  EXPECT_EQ(rules[1].resources, std::vector<std::string>{"crontabs"});
  EXPECT_EQ(rules[2].resources, std::vector<std::string>{"services"});
  RequestInfo r = requestInfoOf("GET", "/api/v1/namespaces/shop/secrets", "", "");
  EXPECT_FALSE(rulesAllow(rules, r));
}

TEST(RbacAggregation, AnyOfSeveralSelectorsAndNeverItself) {
  auto admin = role("admin", R"({"rbac.authorization.k8s.io/aggregate-to-admin":"true"})", {read("stale")},
                    R"({"clusterRoleSelectors":[{"matchLabels":{"rbac.authorization.k8s.io/aggregate-to-admin":"true"}},
                                                 {"matchExpressions":[{"key":"team","operator":"In","values":["shop"]}]}]})");
  std::vector<ClusterRoleView> roles{admin, role("a", R"({"team":"shop"})", {read("orders")}),
                                     role("b", R"({"team":"other"})", {read("other")})};
  auto rules = aggregatedRules(admin, roles);
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_EQ(rules[0].resources, std::vector<std::string>{"orders"});
}

TEST(RbacAggregation, MalformedSelectorsNameTheirField) {
  auto bad = json::parse(R"({"clusterRoleSelectors":[{"matchLabels":{"a":"b"}},{"matchExpressions":[{"key":"x","operator":"Near"}]}]})");
  auto parsed = parseAggregationRule(&bad);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().causes.at(0).field, "aggregationRule.clusterRoleSelectors[1]");
  auto missing = json::parse("{}");
  auto m = parseAggregationRule(&missing);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().causes.at(0).field, "aggregationRule.clusterRoleSelectors");
}

}  // namespace
}  // namespace skiff::auth
