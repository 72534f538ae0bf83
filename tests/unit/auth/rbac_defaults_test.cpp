#include "auth/rbac_defaults.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <set>

#include "api/object.h"
#include "auth/rbac_aggregation.h"
#include "auth/rbac_bindings.h"
#include "auth/rbac_rules.h"

namespace skiff::auth {
namespace {
namespace json = boost::json;

TEST(RbacDefaults, EveryRoleParsesAndEveryBindingNamesOne) {
  std::set<std::string> roles;
  for (const auto& r : defaultClusterRoles()) {
    ASSERT_TRUE(r.is_object()) << "a default role's text did not parse";
    std::string name = api::stringAt(r, "metadata.name");
    EXPECT_TRUE(roles.insert(name).second) << name << " twice";
    auto rules = parsePolicyRules(r.get_object().if_contains("rules"), "rules", false);
    EXPECT_TRUE(rules) << name << ": " << rules.error().message;
    EXPECT_TRUE(parseAggregationRule(r.get_object().if_contains("aggregationRule"))) << name;
  }
  for (const char* must : {"cluster-admin", "admin", "edit", "view", "system:discovery", "system:basic-user", "system:public-info-viewer"})
    EXPECT_TRUE(roles.count(must)) << must;
  for (const auto& b : defaultClusterRoleBindings()) {
    ASSERT_TRUE(b.is_object());
    auto spec = parseBinding(b, false);
    ASSERT_TRUE(spec) << spec.error().message;
    EXPECT_TRUE(roles.count(spec->roleRef.name)) << spec->roleRef.name;
  }
}

TEST(RbacDefaults, ClusterAdminHoldsEverythingAndViewIsAggregated) {
  for (const auto& r : defaultClusterRoles()) {
    std::string name = api::stringAt(r, "metadata.name");
    auto rules = parsePolicyRules(r.get_object().if_contains("rules"), "rules", false);
    ASSERT_TRUE(rules);
    if (name == "cluster-admin") {
      EXPECT_TRUE(rulesAllow(*rules, requestInfoOf("DELETE", "/api/v1/nodes/n1", "", "")));
      EXPECT_TRUE(rulesAllow(*rules, requestInfoOf("GET", "/metrics", "", "")));
    }
    if (name == "view") {
      EXPECT_NE(api::valueAt(r, "aggregationRule.clusterRoleSelectors"), nullptr);
    }
    if (name == "system:aggregate-to-view") {
      EXPECT_TRUE(rulesAllow(*rules, requestInfoOf("GET", "/apis/apps/v1/namespaces/x/deployments", "", "")));
      EXPECT_FALSE(rulesAllow(*rules, requestInfoOf("GET", "/api/v1/namespaces/x/secrets", "", "")));
    }
    if (name == "system:aggregate-to-edit") {
      EXPECT_TRUE(rulesAllow(*rules, requestInfoOf("POST", "/api/v1/namespaces/x/pods/p/exec", "", "")));
      EXPECT_FALSE(rulesAllow(*rules, requestInfoOf("POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/x/roles", "", "")));
    }
  }
}

}  // namespace
}  // namespace skiff::auth
