#include "auth/rbac_rules.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace skiff::auth {
namespace {
namespace json = boost::json;

RequestInfo req(const std::string& method, const std::string& path) { return requestInfoOf(method, path, "", ""); }

PolicyRule rule(std::vector<std::string> verbs, std::vector<std::string> groups, std::vector<std::string> resources,
                std::vector<std::string> names = {}) {
  return {std::move(verbs), std::move(groups), std::move(resources), std::move(names), {}};
}

TEST(RbacRules, MatchVerbsGroupsResourcesAndStars) {
  auto r = rule({"get", "list"}, {""}, {"pods"});
  EXPECT_TRUE(ruleAllows(r, req("GET", "/api/v1/namespaces/shop/pods")));
  EXPECT_TRUE(ruleAllows(r, req("GET", "/api/v1/namespaces/shop/pods/web")));
  EXPECT_FALSE(ruleAllows(r, req("DELETE", "/api/v1/namespaces/shop/pods/web")));
  EXPECT_FALSE(ruleAllows(r, req("GET", "/api/v1/namespaces/shop/secrets")));
  EXPECT_FALSE(ruleAllows(r, req("GET", "/apis/apps/v1/namespaces/shop/deployments")));
  // A subresource is not granted by its resource alone.
  EXPECT_FALSE(ruleAllows(r, req("GET", "/api/v1/namespaces/shop/pods/web/log")));
  auto all = rule({"*"}, {"*"}, {"*"});
  EXPECT_TRUE(ruleAllows(all, req("DELETE", "/apis/apps/v1/namespaces/shop/deployments/web")));
  EXPECT_TRUE(ruleAllows(all, req("GET", "/api/v1/namespaces/shop/pods/web/log")));
}

TEST(RbacRules, MatchSubresourcesAndResourceNames) {
  EXPECT_TRUE(ruleAllows(rule({"get"}, {""}, {"pods/log"}), req("GET", "/api/v1/namespaces/shop/pods/web/log")));
  EXPECT_FALSE(ruleAllows(rule({"get"}, {""}, {"pods/log"}), req("GET", "/api/v1/namespaces/shop/pods/web")));
  auto scale = rule({"patch"}, {"apps"}, {"*/scale"});
  EXPECT_TRUE(ruleAllows(scale, req("PATCH", "/apis/apps/v1/namespaces/shop/deployments/web/scale")));
  EXPECT_FALSE(ruleAllows(scale, req("PATCH", "/apis/apps/v1/namespaces/shop/deployments/web")));
  auto named = rule({"get"}, {""}, {"configmaps"}, {"settings"});
  EXPECT_TRUE(ruleAllows(named, req("GET", "/api/v1/namespaces/shop/configmaps/settings")));
  EXPECT_FALSE(ruleAllows(named, req("GET", "/api/v1/namespaces/shop/configmaps/other")));
  EXPECT_FALSE(ruleAllows(named, req("GET", "/api/v1/namespaces/shop/configmaps")));  // a list names nothing
}

TEST(RbacRules, MatchNonResourceUrlsWithTrailingStar) {
  PolicyRule r{{"get"}, {}, {}, {}, {"/healthz", "/metrics/*"}};
  EXPECT_TRUE(ruleAllows(r, req("GET", "/healthz")));
  EXPECT_TRUE(ruleAllows(r, req("GET", "/metrics/cadvisor")));
  EXPECT_FALSE(ruleAllows(r, req("GET", "/metrics")));
  EXPECT_FALSE(ruleAllows(r, req("GET", "/healthz/extra")));
  EXPECT_FALSE(ruleAllows(r, req("POST", "/healthz")));
  // A resource rule never matches a non-resource path and the other way round.
  EXPECT_FALSE(ruleAllows(rule({"*"}, {"*"}, {"*"}), req("GET", "/healthz")));
  EXPECT_FALSE(ruleAllows(PolicyRule{{"*"}, {}, {}, {}, {"*"}}, req("GET", "/api/v1/namespaces/shop/pods")));
}

TEST(RbacRules, ParseReportsFieldPathsAsKubernetes) {
  auto rules = json::parse(R"([{"verbs":["get"],"apiGroups":[""],"resources":["pods"]},
                               {"apiGroups":[""],"resources":["pods"]},
                               {"verbs":["get"]},
                               {"verbs":["get"],"apiGroups":[""],"nonResourceURLs":["/x"]},
                               {"verbs":"get","apiGroups":[""],"resources":["pods"]}])");
  auto parsed = parsePolicyRules(&rules, "rules", false);
  ASSERT_FALSE(parsed.ok());
  const auto& causes = parsed.error().causes;
  std::vector<std::string> fields;
  for (const auto& c : causes) fields.push_back(c.field);
  EXPECT_EQ(fields, (std::vector<std::string>{"rules[1].verbs", "rules[2].apiGroups", "rules[2].resources",
                                              "rules[3].nonResourceURLs", "rules[4].verbs", "rules[4].verbs"}));
  EXPECT_EQ(parsed.error().code, 422);
  EXPECT_NE(parsed.error().message.find("rules[1].verbs: Required value: verbs must contain at least one value"),
            std::string::npos);

  auto urls = json::parse(R"([{"verbs":["get"],"nonResourceURLs":["/healthz"]}])");
  EXPECT_TRUE(parsePolicyRules(&urls, "rules", false).ok());
  auto inRole = parsePolicyRules(&urls, "rules", true);
  ASSERT_FALSE(inRole.ok());
  EXPECT_EQ(inRole.error().causes.at(0).message, "namespaced rules cannot apply to non-resource URLs");
}

TEST(RbacRules, EscalationCheckFindsWhatTheOwnerDoesNotHold) {
  std::vector<PolicyRule> owner{rule({"get", "list"}, {""}, {"pods", "configmaps"}),
                                rule({"get"}, {""}, {"secrets"}, {"token"}), PolicyRule{{"get"}, {}, {}, {}, {"/metrics/*"}}};
  EXPECT_TRUE(uncoveredRules(owner, {rule({"get"}, {""}, {"pods"})}).empty());
  EXPECT_TRUE(uncoveredRules(owner, {rule({"get"}, {""}, {"secrets"}, {"token"})}).empty());
  EXPECT_TRUE(uncoveredRules(owner, {PolicyRule{{"get"}, {}, {}, {}, {"/metrics/cadvisor"}}}).empty());
  // Every name of secrets is more than one name.
  auto missing = uncoveredRules(owner, {rule({"get", "delete"}, {""}, {"pods", "secrets"})});
  ASSERT_EQ(missing.size(), 3u);
  EXPECT_EQ(compactString(missing[0]), R"({APIGroups:[""], Resources:["secrets"], Verbs:["get"]})");
  EXPECT_EQ(compactString(missing[1]), R"({APIGroups:[""], Resources:["pods"], Verbs:["delete"]})");
  // Stars are only covered by stars.
  EXPECT_EQ(uncoveredRules(owner, {rule({"get"}, {"*"}, {"pods"})}).size(), 1u);
  EXPECT_TRUE(uncoveredRules({rule({"*"}, {"*"}, {"*"})}, {rule({"get"}, {"apps"}, {"deployments/scale"})}).empty());
  EXPECT_TRUE(uncoveredRules({rule({"get"}, {"apps"}, {"*/scale"})}, {rule({"get"}, {"apps"}, {"deployments/scale"})}).empty());
}

}  // namespace
}  // namespace skiff::auth
