#include "apiserver/quota_admission.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "api/object.h"

namespace skiff::apiserver {
namespace {
namespace json = boost::json;

// A namespace's objects by kind, as the registry would list them.
struct Cluster {
  std::map<std::string, std::vector<json::value>> byKind;
  QuotaAdmission admission{QuotaAdmission::ClusterView{[this](const api::ResourceType& t, const std::string&) { return byKind[t.kind]; }}};
  void add(const char* kind, const char* plural, const char* text) {
    json::value v = json::parse(text);
    admission.observe(std::string("/registry/core/") + plural + "/ns/" + api::stringAt(v, "metadata.name"), true);
    byKind[kind].push_back(std::move(v));
  }
};

const api::ResourceType& pods() { return *api::findByKind("v1", "Pod"); }

json::value pod(const char* name, const char* limitsCpu) {
  json::object c{{"name", "app"}, {"image", "busybox"}};
  if (*limitsCpu) c["resources"] = json::object{{"limits", json::object{{"cpu", limitsCpu}}}};
  return json::object{{"metadata", json::object{{"name", name}}}, {"spec", json::object{{"containers", json::array{c}}}}};
}

TEST(QuotaAdmission, LimitRangesFillDefaultsAndRefuseWhatIsOutOfBounds) {
  Cluster c;
  c.add("LimitRange", "limitranges", R"({"metadata":{"name":"l"},"spec":{"limits":[{"type":"Container",
      "default":{"cpu":"500m"},"defaultRequest":{"cpu":"100m"},"max":{"cpu":"1"}}]}})");
  json::value p = pod("a", "");
  ASSERT_TRUE(c.admission.limitRanges(pods(), "ns", p));
  const json::value& ctr = api::arrayAt(p, "spec.containers")[0];
  EXPECT_EQ(api::stringAt(ctr, "resources.limits.cpu"), "500m");
  EXPECT_EQ(api::stringAt(ctr, "resources.requests.cpu"), "100m");
  json::value big = pod("b", "2");
  Status s = c.admission.limitRanges(pods(), "ns", big);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "pods \"b\" is forbidden: [maximum cpu usage per Container is 1, but limit is 2]");
  json::value elsewhere = pod("c", "2");
  EXPECT_TRUE(c.admission.limitRanges(pods(), "other", elsewhere));  // no range there: untouched
}

TEST(QuotaAdmission, QuotasCountWhatTheNamespaceHoldsPlusTheNewObject) {
  Cluster c;
  c.add("ResourceQuota", "resourcequotas", R"({"metadata":{"name":"q"},"spec":{"hard":{"pods":"2","limits.cpu":"1"}}})");
  c.byKind["Pod"].push_back(pod("running", "700m"));
  std::unique_lock<std::mutex> held;
  Status s = c.admission.quota(pods(), "ns", pod("b", "400m"), held);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message,
            "pods \"b\" is forbidden: exceeded quota: q, requested: limits.cpu=400m, used: limits.cpu=700m, limited: limits.cpu=1");
  held = {};
  EXPECT_TRUE(c.admission.quota(pods(), "ns", pod("c", "300m"), held));
  held = {};
  s = c.admission.quota(pods(), "ns", pod("d", ""), held);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "pods \"d\" is forbidden: failed quota: q: must specify limits.cpu for: app");
}

TEST(QuotaAdmission, AmountsPrintAsKubernetesPrintsThem) {
  EXPECT_EQ(quotaAmount("limits.cpu", 1500), "1500m");
  EXPECT_EQ(quotaAmount("requests.cpu", 2000), "2");
  EXPECT_EQ(quotaAmount("requests.memory", (int64_t(1) << 30) * 1000), "1Gi");
  EXPECT_EQ(quotaAmount("pods", 3000), "3");
}

}  // namespace
}  // namespace skiff::apiserver
