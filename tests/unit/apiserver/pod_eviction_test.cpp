// The eviction subresource's decisions, as Kubernetes makes them: which pods ignore budgets,
// when a budget is spent, what a refusal says; then one eviction through the registry.
#include "apiserver/pod_eviction.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>

#include "api/object.h"
#include "store/sqlite/sqlite_store.h"

namespace skiff::apiserver {
namespace {
namespace fs = std::filesystem;

api::DisruptionBudget budget(const char* name, const char* selector, int64_t allowed, int64_t healthy = 3, int64_t desired = 2) {
  json::value pdb = json::parse(std::string(R"({"metadata":{"namespace":"shop","name":")") + name +
                                R"(","generation":1},"spec":{"minAvailable":2,"selector":)" + selector + "}}");
  auto b = api::disruptionBudgetOf(pdb);
  EXPECT_TRUE(b.ok());
  b->status = {1, allowed, healthy, desired, 3, {}};
  return *b;
}

EvictionPod runningPod(bool ready = true) {
  EvictionPod p;
  p.name = "web-1";
  p.resourceVersion = "7";
  p.phase = "Running";
  p.ready = ready;
  p.labels = json::object{{"app", "web"}};
  return p;
}

TEST(PodEviction, PlansAsKubernetes) {
  auto web = budget("web", R"({"matchLabels":{"app":"web"}})", 1);
  auto other = budget("db", R"({"matchLabels":{"app":"db"}})", 1);
  auto everything = budget("all", "{}", 1);

  auto none = planEviction(runningPod(), {other});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->step, EvictionPlan::Step::Delete) << "no budget selects the pod";

  auto spend = planEviction(runningPod(), {web, other});
  ASSERT_TRUE(spend.ok());
  EXPECT_EQ(spend->step, EvictionPlan::Step::SpendBudgetThenDelete);
  EXPECT_EQ(spend->budget, "web");

  auto two = planEviction(runningPod(), {web, everything});
  ASSERT_FALSE(two.ok());
  EXPECT_EQ(two.error().code, 500);
  EXPECT_EQ(two.error().message, "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.");

  EvictionPod pending = runningPod();
  pending.phase = "Pending";
  EXPECT_EQ(planEviction(pending, {web})->step, EvictionPlan::Step::Delete) << "a pod not yet running ignores budgets";
  EvictionPod leaving = runningPod();
  leaving.deleting = true;
  EXPECT_EQ(planEviction(leaving, {web})->step, EvictionPlan::Step::Delete);

  // Not ready (IfHealthyBudget): deleted without spending while the budget is met.
  EXPECT_EQ(planEviction(runningPod(false), {web})->step, EvictionPlan::Step::DeleteIfUnchanged);
  auto short_ = budget("web", R"({"matchLabels":{"app":"web"}})", 0, 1, 2);
  EXPECT_EQ(planEviction(runningPod(false), {short_})->step, EvictionPlan::Step::SpendBudgetThenDelete)
      << "a budget short of healthy pods keeps even unready ones";
  short_.alwaysAllowUnhealthy = true;
  EXPECT_EQ(planEviction(runningPod(false), {short_})->step, EvictionPlan::Step::DeleteIfUnchanged);
}

TEST(PodEviction, AdmitsOnlyWhatTheBudgetAllows) {
  auto allowed = admitDisruption(budget("web", "{}", 1), "web-1", 1000);
  ASSERT_TRUE(allowed.ok());
  EXPECT_EQ(allowed->disruptionsAllowed, 0);
  ASSERT_EQ(allowed->disruptedPods.count("web-1"), 1u);
  EXPECT_EQ(allowed->disruptedPods.at("web-1"), 1000);

  auto refused = admitDisruption(budget("web", "{}", 0, 2, 2), "web-1", 1000);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, 429);
  EXPECT_EQ(refused.error().reason, "TooManyRequests");
  EXPECT_EQ(refused.error().message, "Cannot evict pod as it would violate the pod's disruption budget.");
  ASSERT_EQ(refused.error().causes.size(), 1u);
  EXPECT_EQ(refused.error().causes[0].reason, "DisruptionBudget");
  EXPECT_EQ(refused.error().causes[0].message, "The disruption budget web needs 2 healthy pods and has 2 currently");

  auto stale = budget("web", "{}", 1);
  stale.generation = 2;  // the controller has not seen the last spec change
  auto waiting = admitDisruption(stale, "web-1", 1000);
  ASSERT_FALSE(waiting.ok());
  EXPECT_EQ(waiting.error().code, 429);
  EXPECT_EQ(waiting.error().causes[0].message, "The disruption budget web is still being processed by the server.");
}

TEST(PodEviction, ReadsTheEvictionBody) {
  auto ok = evictionRequestOf(json::parse(R"({"apiVersion":"policy/v1beta1","kind":"Eviction","metadata":{"name":"web-1"},
                                              "deleteOptions":{"gracePeriodSeconds":5,"dryRun":["All"]}})"),
                              "web-1");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->deleteOptions.gracePeriodSeconds, 5);
  EXPECT_TRUE(ok->dryRun);
  auto other = evictionRequestOf(json::parse(R"({"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"web-2"}})"), "web-1");
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().message, "name in URL does not match name in Eviction object");
  EXPECT_FALSE(evictionRequestOf(json::parse(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-1"}})"), "web-1").ok());
}

TEST(PodEviction, SpendsTheBudgetThenDeletesThroughTheRegistry) {
  fs::path dir = fs::temp_directory_path() / ("skiff-evict-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  {
    auto store = std::move(*store::openSqliteStore({(dir / "store.db").string(), 50, 1024}));
    Registry registry(*store);
    ASSERT_TRUE(registry.bootstrap().ok());
    const auto& podType = *api::findByKind("v1", "Pod");
    const auto& pdbType = *api::findByKind("policy/v1", "PodDisruptionBudget");
    for (const char* name : {"web-1", "web-2"}) {
      ASSERT_TRUE(registry.create(podType, "default",
                                  json::parse(std::string(R"({"metadata":{"name":")") + name +
                                              R"(","labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"busybox:1"}]}})"))
                      .ok());
      ASSERT_TRUE(registry.patch(podType, "default", name, PatchType::Merge,
                                 json::parse(R"({"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}})"), "status")
                      .ok());
    }
    ASSERT_TRUE(registry.create(pdbType, "default",
                                json::parse(R"({"metadata":{"name":"web"},"spec":{"minAvailable":1,"selector":{"matchLabels":{"app":"web"}}}})"))
                    .ok());
    ASSERT_TRUE(registry.patch(pdbType, "default", "web", PatchType::Merge,
                               json::parse(R"({"status":{"observedGeneration":1,"disruptionsAllowed":1,"currentHealthy":2,"desiredHealthy":1,"expectedPods":2}})"),
                               "status")
                    .ok());

    EvictionRequest dry{"web-1", {}, true};
    ASSERT_TRUE(evictPod(registry, "default", dry).ok());
    EXPECT_EQ(api::valueAt(*registry.get(pdbType, "default", "web"), "status.disruptionsAllowed")->as_int64(), 1) << "a dry run writes nothing";
    EXPECT_TRUE(registry.get(podType, "default", "web-1").ok());

    auto first = evictPod(registry, "default", {"web-1", {}, false});
    ASSERT_TRUE(first.ok()) << first.error().message;
    EXPECT_EQ(api::stringAt(*first, "status"), "Success");
    auto pod = registry.get(podType, "default", "web-1");
    EXPECT_TRUE(!pod.ok() || api::valueAt(*pod, "metadata.deletionTimestamp")) << "the evicted pod is deleted";
    auto pdb = registry.get(pdbType, "default", "web");
    EXPECT_EQ(api::valueAt(*pdb, "status.disruptionsAllowed")->as_int64(), 0);
    EXPECT_TRUE(api::valueAt(*pdb, "status.disruptedPods.web-1")) << "the eviction is recorded for the controller";
    EXPECT_EQ(api::stringAt(api::valueAt(*pdb, "status.conditions")->as_array().at(0), "reason"), "InsufficientPods");

    auto second = evictPod(registry, "default", {"web-2", {}, false});
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.error().code, 429);
    EXPECT_TRUE(registry.get(podType, "default", "web-2").ok()) << "a refused eviction leaves the pod";

    auto missing = evictPod(registry, "default", {"nobody", {}, false});
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code, 404);
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace skiff::apiserver
