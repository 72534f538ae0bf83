#include "scheduler/scheduler.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <deque>

#include "api/quantity.h"

namespace skiff::scheduler {
namespace json = boost::json;

class SchedulerTest : public ::testing::Test {
 protected:
  // Nodes live in a deque so NodeInfo pointers stay valid.
  NodeInfo& node(const std::string& name, const std::string& cpu = "4", const std::string& mem = "8Gi",
                 const std::string& extra = "") {
    nodes_.push_back(json::parse(R"({"metadata":{"name":")" + name + R"(","labels":{"zone":")" + name.substr(0, 1) +
                                 R"("}},"spec":{)" + extra + R"(},"status":{"allocatable":{"cpu":")" + cpu +
                                 R"(","memory":")" + mem + R"(","pods":"110"},"conditions":[{"type":"Ready","status":"True"}]}})"));
    infos_.push_back(makeNodeInfo(nodes_.back()));
    return infos_.back();
  }
  json::value pod(const std::string& spec) {
    return json::parse(R"({"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"x"}])" +
                       (spec.empty() ? "" : "," + spec) + "}}");
  }
  std::deque<json::value> nodes_;
  std::vector<NodeInfo> infos_;
};

TEST(Quantity, ParsesKubernetesSuffixes) {
  EXPECT_EQ(api::parseQuantityMilli("100m"), 100);
  EXPECT_EQ(api::parseQuantityMilli("2"), 2000);
  EXPECT_EQ(api::parseQuantityMilli("1.5"), 1500);
  EXPECT_EQ(api::parseQuantityMilli("1Ki"), 1024000);
  EXPECT_EQ(api::parseQuantityMilli("64Mi"), int64_t(64) * 1024 * 1024 * 1000);
  EXPECT_EQ(api::parseQuantityMilli("1G"), int64_t(1000000000) * 1000);
  EXPECT_EQ(api::parseQuantityMilli("2e3"), 2000000);
  EXPECT_FALSE(api::parseQuantityMilli("lots").has_value());
}

TEST_F(SchedulerTest, PicksTheLeastLoadedFeasibleNode) {
  node("a1");
  node("b1");
  infos_[0].requested = {3000, 0, 5};
  auto d = schedule(pod(R"("containers":[{"name":"c","image":"x","resources":{"requests":{"cpu":"500m"}}}])"), infos_);
  EXPECT_EQ(d.node, "b1");
}

TEST_F(SchedulerTest, ExplainsWhyNothingFits) {
  node("a1", "1");
  node("b1", "1");
  node("c1", "8", "8Gi", R"("unschedulable":true)");
  auto d = schedule(json::parse(R"({"metadata":{"name":"big"},"spec":{"containers":[{"name":"c","image":"x",
      "resources":{"requests":{"cpu":"2"}}}]}})"), infos_);
  EXPECT_EQ(d.node, "");
  EXPECT_EQ(d.message, "0/3 nodes are available: 2 Insufficient cpu, 1 node(s) were unschedulable.");
}

TEST_F(SchedulerTest, NodeSelectorAndRequiredAffinity) {
  node("a1");
  node("b1");
  EXPECT_EQ(schedule(pod(R"("nodeSelector":{"zone":"b"})"), infos_).node, "b1");
  auto affinity = pod(R"("affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":
      {"nodeSelectorTerms":[{"matchExpressions":[{"key":"zone","operator":"NotIn","values":["b"]}]}]}}})");
  EXPECT_EQ(schedule(affinity, infos_).node, "a1");
  auto none = pod(R"("nodeSelector":{"zone":"z"})");
  EXPECT_NE(schedule(none, infos_).message.find("didn't match Pod's node affinity/selector"), std::string::npos);
}

TEST_F(SchedulerTest, PreferredAffinityWinsAmongEquals) {
  node("a1");
  node("b1");
  auto p = pod(R"("affinity":{"nodeAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":
      [{"weight":50,"preference":{"matchExpressions":[{"key":"zone","operator":"In","values":["b"]}]}}]}})");
  EXPECT_EQ(schedule(p, infos_).node, "b1");
}

TEST_F(SchedulerTest, TaintsNeedTolerations) {
  node("a1", "4", "8Gi", R"("taints":[{"key":"gpu","value":"yes","effect":"NoSchedule"}])");
  EXPECT_EQ(schedule(pod(""), infos_).node, "");
  EXPECT_NE(schedule(pod(""), infos_).message.find("untolerated taint {gpu: yes}"), std::string::npos);
  EXPECT_EQ(schedule(pod(R"("tolerations":[{"key":"gpu","operator":"Equal","value":"yes","effect":"NoSchedule"}])"), infos_).node, "a1");
  EXPECT_EQ(schedule(pod(R"("tolerations":[{"operator":"Exists"}])"), infos_).node, "a1");
}

TEST_F(SchedulerTest, NotReadyNodesAreSkipped) {
  node("a1");
  infos_[0].ready = false;
  EXPECT_EQ(schedule(pod(""), infos_).message, "0/1 nodes are available: 1 node(s) were not ready.");
}

TEST_F(SchedulerTest, RotatingTheOffsetSpreadsEqualNodes) {
  for (int i = 0; i < 4; ++i) node("n" + std::to_string(i));
  std::set<std::string> chosen;
  for (size_t off = 0; off < 4; ++off) chosen.insert(schedule(pod(""), infos_, off).node);
  EXPECT_EQ(chosen.size(), 4u);
}

std::shared_ptr<const PodSummary> running(const std::string& name, const std::string& labels) {
  auto p = std::make_shared<PodSummary>();
  p->key = "default/" + name;
  p->ns = "default";
  p->labels = labels;
  return p;
}

TEST_F(SchedulerTest, PodAntiAffinityKeepsReplicasApart) {
  node("a1");
  node("b1");
  infos_[0].pods["default/db-0"] = running("db-0", R"({"app":"db"})");
  auto p = json::parse(R"({"metadata":{"name":"db-1","namespace":"default","labels":{"app":"db"}},"spec":{
      "affinity":{"podAntiAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[
        {"labelSelector":{"matchLabels":{"app":"db"}},"topologyKey":"kubernetes.io/hostname"}]}},
      "containers":[{"name":"c","image":"x"}]}})");
  // Nodes carry hostname labels in real clusters; here the zone label stands in.
  p.as_object()["spec"].as_object()["affinity"].as_object()["podAntiAffinity"].as_object()
      ["requiredDuringSchedulingIgnoredDuringExecution"].as_array()[0].as_object()["topologyKey"] = "zone";
  EXPECT_EQ(schedule(p, infos_).node, "b1");
  infos_[1].pods["default/db-2"] = running("db-2", R"({"app":"db"})");
  EXPECT_NE(schedule(p, infos_).message.find("didn't match pod anti-affinity rules"), std::string::npos);
}

TEST_F(SchedulerTest, PodAffinityFollowsItsPeer) {
  node("a1");
  node("b1");
  auto p = json::parse(R"({"metadata":{"name":"web","namespace":"default","labels":{"app":"web"}},"spec":{
      "affinity":{"podAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[
        {"labelSelector":{"matchLabels":{"app":"cache"}},"topologyKey":"zone"}]}},
      "containers":[{"name":"c","image":"x"}]}})");
  EXPECT_EQ(schedule(p, infos_).node, "");  // no cache anywhere yet
  infos_[1].pods["default/cache-0"] = running("cache-0", R"({"app":"cache"})");
  EXPECT_EQ(schedule(p, infos_).node, "b1");
}

TEST_F(SchedulerTest, TopologySpreadKeepsSkew) {
  node("a1");
  node("b1");
  node("c1");
  infos_[0].pods["default/w-0"] = running("w-0", R"({"app":"w"})");
  infos_[0].pods["default/w-1"] = running("w-1", R"({"app":"w"})");
  infos_[1].pods["default/w-2"] = running("w-2", R"({"app":"w"})");
  auto p = json::parse(R"({"metadata":{"name":"w-3","namespace":"default","labels":{"app":"w"}},"spec":{
      "topologySpreadConstraints":[{"maxSkew":1,"topologyKey":"zone","whenUnsatisfiable":"DoNotSchedule",
        "labelSelector":{"matchLabels":{"app":"w"}}}],
      "containers":[{"name":"c","image":"x"}]}})");
  for (size_t off = 0; off < 3; ++off) EXPECT_EQ(schedule(p, infos_, off).node, "c1");
}

TEST_F(SchedulerTest, PreemptionPicksFewestLowestPriorityVictims) {
  node("a1", "2");
  node("b1", "2");
  auto lowPod = [&](size_t n, const std::string& name, int64_t prio, int64_t cpu) {
    auto p = running(name, R"({})");
    auto copy = std::make_shared<PodSummary>(*p);
    copy->priority = prio;
    infos_[n].pods["default/" + name] = copy;
    infos_[n].requested += Resources{cpu, 0, 1};
  };
  lowPod(0, "a-1", 10, 1000);
  lowPod(0, "a-2", 10, 1000);
  lowPod(1, "b-1", 5, 2000);
  std::map<std::string, Resources> req{{"default/a-1", {1000, 0, 1}}, {"default/a-2", {1000, 0, 1}}, {"default/b-1", {2000, 0, 1}}};
  auto requestsOf = [&](const std::string& k) { return req[k]; };
  auto high = json::parse(R"({"metadata":{"name":"vip","namespace":"default"},"spec":{"priority":100,
      "containers":[{"name":"c","image":"x","resources":{"requests":{"cpu":"1500m"}}}]}})");
  EXPECT_EQ(schedule(high, infos_).node, "");
  auto plan = findPreemption(high, infos_, requestsOf);
  ASSERT_TRUE(plan.has_value());
  // Node b1 needs one victim (b-1, priority 5); a1 would need two.
  EXPECT_EQ(plan->node, "b1");
  EXPECT_EQ(plan->victims, std::vector<std::string>{"default/b-1"});
  auto low = json::parse(R"({"metadata":{"name":"meh","namespace":"default"},"spec":{"priority":1,
      "containers":[{"name":"c","image":"x","resources":{"requests":{"cpu":"1500m"}}}]}})");
  EXPECT_FALSE(findPreemption(low, infos_, requestsOf).has_value());  // nobody has lower priority
  high.as_object()["spec"].as_object()["preemptionPolicy"] = "Never";
  EXPECT_FALSE(findPreemption(high, infos_, requestsOf).has_value());
}

TEST_F(SchedulerTest, PodRequestsCountInitContainersAsMax) {
  auto p = json::parse(R"({"spec":{"initContainers":[{"name":"i","resources":{"requests":{"cpu":"2"}}}],
      "containers":[{"name":"a","resources":{"requests":{"cpu":"500m","memory":"1Gi"}}},
                    {"name":"b","resources":{"limits":{"cpu":"1"}}}]}})");
  Resources r = podRequests(p);
  EXPECT_EQ(r.milliCpu, 2000);
  EXPECT_EQ(r.memory, int64_t(1) << 30);
}

}  // namespace skiff::scheduler
