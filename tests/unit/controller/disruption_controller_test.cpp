// A PodDisruptionBudget's status as Kubernetes' disruption controller computes it: healthy pods
// are Ready ones not being deleted nor just evicted; counts expect the selected pods, percentages
// and maxUnavailable the owning controllers' replicas.
#include "controller/disruption_controller.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>

#include "api/object.h"
#include "apiserver/registry.h"
#include "client/local_client.h"
#include "helpers/local_api.h"

namespace skiff::controller {
namespace {
namespace json = boost::json;

constexpr int64_t kNow = 1'800'000'000;

api::DisruptionBudget budget(const char* spec, int64_t generation = 1) {
  json::value pdb = json::parse(std::string(R"({"metadata":{"namespace":"shop","name":"web","generation":)") + std::to_string(generation) +
                                R"(},"spec":)" + spec + "}");
  auto b = api::disruptionBudgetOf(pdb);
  EXPECT_TRUE(b.ok());
  return *b;
}

DisruptionPod pod(const std::string& name, bool ready = true, const std::string& ownerUid = "rs-1") {
  DisruptionPod p;
  p.name = name;
  p.ready = ready;
  if (!ownerUid.empty()) {
    p.ownerApiVersion = "apps/v1";
    p.ownerKind = "ReplicaSet";
    p.ownerName = ownerUid;
    p.ownerUid = ownerUid;
  }
  return p;
}

// Every ReplicaSet belongs to one Deployment that wants `replicas`.
ScaleFinder deploymentOf(int64_t replicas) {
  return [replicas](const DisruptionPod& p) -> std::optional<ControllerScale> {
    if (p.ownerKind != "ReplicaSet") return std::nullopt;
    return ControllerScale{"deploy-1", replicas};
  };
}

TEST(DisruptionController, MinAvailableCountExpectsTheSelectedPods) {
  auto c = computeDisruptionStatus(budget(R"({"minAvailable":2,"selector":{"matchLabels":{"app":"web"}}})", 4),
                                   {pod("a"), pod("b"), pod("c")}, deploymentOf(3), kNow);
  EXPECT_TRUE(c.syncError.empty());
  EXPECT_EQ(c.status.currentHealthy, 3);
  EXPECT_EQ(c.status.desiredHealthy, 2);
  EXPECT_EQ(c.status.expectedPods, 3);
  EXPECT_EQ(c.status.disruptionsAllowed, 1);
  EXPECT_EQ(c.status.observedGeneration, 4);
  EXPECT_FALSE(c.recheckAt);
}

TEST(DisruptionController, UnreadyAndDeletingPodsAreNotHealthy) {
  DisruptionPod leaving = pod("c");
  leaving.deleting = true;
  auto c = computeDisruptionStatus(budget(R"({"minAvailable":2,"selector":{}})"), {pod("a"), pod("b", false), leaving},
                                   deploymentOf(3), kNow);
  EXPECT_EQ(c.status.currentHealthy, 1);
  EXPECT_EQ(c.status.expectedPods, 3);
  EXPECT_EQ(c.status.disruptionsAllowed, 0) << "never negative";
}

TEST(DisruptionController, EvictedPodsStayOutOfHealthyForTwoMinutes) {
  api::DisruptionBudget b = budget(R"({"minAvailable":1,"selector":{}})");
  b.status.disruptedPods = {{"a", kNow - 30}, {"b", kNow - 121}, {"gone", kNow - 10}};
  auto c = computeDisruptionStatus(b, {pod("a"), pod("b"), pod("c")}, deploymentOf(3), kNow);
  EXPECT_EQ(c.status.currentHealthy, 2) << "a was just evicted; b's eviction is older than two minutes";
  ASSERT_EQ(c.status.disruptedPods.size(), 1u) << "expired and vanished pods leave the map";
  EXPECT_EQ(c.status.disruptedPods.count("a"), 1u);
  ASSERT_TRUE(c.recheckAt);
  EXPECT_EQ(*c.recheckAt, kNow - 30 + 120);
  EXPECT_EQ(c.status.disruptionsAllowed, 1);
}

TEST(DisruptionController, MaxUnavailableAndPercentagesScaleAgainstTheControllers) {
  std::vector<DisruptionPod> pods{pod("a", true, "rs-old"), pod("b", true, "rs-new"), pod("c", true, "rs-new")};
  auto maxUnavailable = computeDisruptionStatus(budget(R"({"maxUnavailable":1,"selector":{}})"), pods, deploymentOf(5), kNow);
  EXPECT_EQ(maxUnavailable.status.expectedPods, 5) << "two ReplicaSets of one Deployment count its replicas once";
  EXPECT_EQ(maxUnavailable.status.desiredHealthy, 4);
  EXPECT_EQ(maxUnavailable.status.disruptionsAllowed, 0);

  auto percent = computeDisruptionStatus(budget(R"({"minAvailable":"50%","selector":{}})"), pods, deploymentOf(3), kNow);
  EXPECT_EQ(percent.status.expectedPods, 3);
  EXPECT_EQ(percent.status.desiredHealthy, 2) << "50% of 3 rounds up";
  EXPECT_EQ(percent.status.disruptionsAllowed, 1);

  auto maxPercent = computeDisruptionStatus(budget(R"({"maxUnavailable":"30%","selector":{}})"), pods, deploymentOf(3), kNow);
  EXPECT_EQ(maxPercent.status.desiredHealthy, 2) << "30% of 3 unavailable rounds up to 1";
}

TEST(DisruptionController, UnmanagedPodsAreLeftOutAndMissingControllersFailSafe) {
  auto c = computeDisruptionStatus(budget(R"({"maxUnavailable":1,"selector":{}})"), {pod("a"), pod("loose", true, "")},
                                   deploymentOf(2), kNow);
  EXPECT_TRUE(c.syncError.empty());
  EXPECT_EQ(c.unmanagedPods, std::vector<std::string>{"loose"});
  EXPECT_EQ(c.status.expectedPods, 2);

  auto none = [](const DisruptionPod&) -> std::optional<ControllerScale> { return std::nullopt; };
  auto failed = computeDisruptionStatus(budget(R"({"maxUnavailable":1,"selector":{}})"), {pod("a")}, none, kNow);
  EXPECT_EQ(failed.syncError, "found no controllers for pod \"a\"");

  auto nothingExpected = computeDisruptionStatus(budget(R"({"maxUnavailable":1,"selector":{}})"), {}, deploymentOf(0), kNow);
  EXPECT_EQ(nothingExpected.status.disruptionsAllowed, 0);
}

TEST(DisruptionController, WritesStatusAndConditionFromTheCaches) {
  {
    test_support::LocalApi api("pdb");
    ASSERT_TRUE(api.ready());
    client::LocalClient& client = api.client();
    const auto& podType = *api::findByKind("v1", "Pod");
    const auto& pdbType = *api::findByKind("policy/v1", "PodDisruptionBudget");
    for (const char* name : {"a", "b", "c"}) {
      ASSERT_TRUE(client.create(podType, "default",
                                json::parse(std::string(R"({"metadata":{"name":")") + name +
                                            R"(","labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"busybox:1"}]}})"))
                      .ok());
      std::string ready = name == std::string("c") ? "False" : "True";
      ASSERT_TRUE(client.patch(podType, "default", name, client::PatchType::Merge,
                               json::parse(R"({"status":{"phase":"Running","conditions":[{"type":"Ready","status":")" + ready + R"("}]}})"),
                               "status")
                      .ok());
    }
    ASSERT_TRUE(client.create(pdbType, "default",
                              json::parse(R"({"metadata":{"name":"web"},"spec":{"minAvailable":1,"selector":{"matchLabels":{"app":"web"}}}})"))
                    .ok());
    client::Informer budgets(client, pdbType), pods(client, podType), rs(client, *api::findByKind("apps/v1", "ReplicaSet")),
        deploys(client, *api::findByKind("apps/v1", "Deployment")), sts(client, *api::findByKind("apps/v1", "StatefulSet"));
    for (auto* i : {&budgets, &pods, &rs, &deploys, &sts}) ASSERT_TRUE(i->start().ok());
    DisruptionController controller(client, budgets, pods, rs, deploys, sts);
    ASSERT_TRUE(controller.reconcile("default/web").ok());
    auto pdb = client.get(pdbType, "default", "web");
    ASSERT_TRUE(pdb.ok());
    EXPECT_EQ(api::valueAt(*pdb, "status.currentHealthy")->as_int64(), 2);
    EXPECT_EQ(api::valueAt(*pdb, "status.desiredHealthy")->as_int64(), 1);
    EXPECT_EQ(api::valueAt(*pdb, "status.expectedPods")->as_int64(), 3);
    EXPECT_EQ(api::valueAt(*pdb, "status.disruptionsAllowed")->as_int64(), 1);
    EXPECT_EQ(api::valueAt(*pdb, "status.observedGeneration")->as_int64(), 1);
    const json::value& condition = api::valueAt(*pdb, "status.conditions")->as_array().at(0);
    EXPECT_EQ(api::stringAt(condition, "type"), "DisruptionAllowed");
    EXPECT_EQ(api::stringAt(condition, "status"), "True");
    EXPECT_EQ(api::stringAt(condition, "reason"), "SufficientPods");

    // One more pod turns unready: nothing may be disrupted.
    ASSERT_TRUE(client.patch(podType, "default", "b", client::PatchType::Merge,
                             json::parse(R"({"status":{"conditions":[{"type":"Ready","status":"False"}]}})"), "status")
                    .ok());
    ASSERT_TRUE(controller.reconcile("default/web").ok());
    pdb = client.get(pdbType, "default", "web");
    EXPECT_EQ(api::valueAt(*pdb, "status.disruptionsAllowed")->as_int64(), 0);
    const json::value& insufficient = api::valueAt(*pdb, "status.conditions")->as_array().at(0);
    EXPECT_EQ(api::stringAt(insufficient, "status"), "False");
    EXPECT_EQ(api::stringAt(insufficient, "reason"), "InsufficientPods");
    for (auto* i : {&budgets, &pods, &rs, &deploys, &sts}) i->stop();
  }
}

}  // namespace
}  // namespace skiff::controller
