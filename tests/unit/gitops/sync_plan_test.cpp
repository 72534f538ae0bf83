#include "gitops/sync_plan.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "api/object.h"

namespace skiff::gitops {
namespace json = boost::json;

namespace {
json::value obj(const char* text) { return json::parse(text); }
std::vector<std::string> names(const std::vector<json::value>& objects, const std::vector<size_t>& order) {
  std::vector<std::string> out;
  for (size_t i : order) out.push_back(api::stringAt(objects[i], "kind") + "/" + api::stringAt(objects[i], "metadata.name"));
  return out;
}
}  // namespace

TEST(GitOpsSyncPlan, OrdersByWaveThenKindThenName) {
  std::vector<json::value> objects = {
      obj(R"({"kind":"Deployment","metadata":{"name":"web"}})"),
      obj(R"({"kind":"Widget","metadata":{"name":"w"}})"),  // a custom kind: after its definition
      obj(R"({"kind":"CustomResourceDefinition","metadata":{"name":"widgets.x.io"}})"),
      obj(R"({"kind":"Service","metadata":{"name":"b"}})"),
      obj(R"({"kind":"Service","metadata":{"name":"a"}})"),
      obj(R"({"kind":"Namespace","metadata":{"name":"shop"}})"),
      obj(R"({"kind":"Job","metadata":{"name":"migrate","annotations":{"argocd.argoproj.io/sync-wave":"-1"}}})"),
      obj(R"({"kind":"ConfigMap","metadata":{"name":"late","annotations":{"argocd.argoproj.io/sync-wave":"5"}}})"),
  };
  EXPECT_EQ(names(objects, applyOrder(objects)),
            (std::vector<std::string>{"Job/migrate", "Namespace/shop", "CustomResourceDefinition/widgets.x.io", "Service/a", "Service/b",
                                      "Deployment/web", "Widget/w", "ConfigMap/late"}));
}

TEST(GitOpsSyncPlan, SyncWaveReadsIntegersOnly) {
  EXPECT_EQ(syncWave(obj(R"({"metadata":{"annotations":{"argocd.argoproj.io/sync-wave":"-3"}}})")), -3);
  EXPECT_EQ(syncWave(obj(R"({"metadata":{"annotations":{"argocd.argoproj.io/sync-wave":"2x"}}})")), 0);
  EXPECT_EQ(syncWave(obj(R"({"metadata":{}})")), 0);
}

TEST(GitOpsSyncPlan, DeploymentHealthFollowsItsRollout) {
  auto d = [](const char* status, int64_t generation = 1, bool paused = false) {
    json::value v = json::parse(std::string(R"({"kind":"Deployment","metadata":{"name":"web","generation":)") + std::to_string(generation) +
                                R"(},"spec":{"replicas":2,"paused":)" + (paused ? "true" : "false") + R"(},"status":)" + status + "}");
    return assessHealth(v).status;
  };
  EXPECT_EQ(d(R"({"observedGeneration":1,"replicas":2,"updatedReplicas":2,"availableReplicas":2})"), Health::Healthy);
  EXPECT_EQ(d(R"({"observedGeneration":1,"replicas":2,"updatedReplicas":2,"availableReplicas":2})", 2), Health::Progressing);
  EXPECT_EQ(d(R"({"observedGeneration":1,"replicas":3,"updatedReplicas":2,"availableReplicas":2})"), Health::Progressing);
  EXPECT_EQ(d(R"({"observedGeneration":1,"replicas":2,"updatedReplicas":2,"availableReplicas":1})"), Health::Progressing);
  EXPECT_EQ(d(R"({"observedGeneration":1,"replicas":2,"updatedReplicas":1,"availableReplicas":1,
                 "conditions":[{"type":"Progressing","status":"False","reason":"ProgressDeadlineExceeded"}]})"), Health::Degraded);
  EXPECT_EQ(d(R"({"observedGeneration":1})", 1, true), Health::Suspended);
}

TEST(GitOpsSyncPlan, OtherKindsHealth) {
  EXPECT_EQ(assessHealth(obj(R"({"kind":"Job","status":{"conditions":[{"type":"Complete","status":"True"}]}})")).status, Health::Healthy);
  EXPECT_EQ(assessHealth(obj(R"({"kind":"Job","status":{"conditions":[{"type":"Failed","status":"True","message":"BackoffLimitExceeded"}]}})")).status,
            Health::Degraded);
  EXPECT_EQ(assessHealth(obj(R"({"kind":"Job","status":{}})")).status, Health::Progressing);
  EXPECT_EQ(assessHealth(obj(R"({"kind":"PersistentVolumeClaim","status":{"phase":"Pending"}})")).status, Health::Progressing);
  EXPECT_EQ(assessHealth(obj(R"({"kind":"PersistentVolumeClaim","status":{"phase":"Bound"}})")).status, Health::Healthy);
  EXPECT_EQ(assessHealth(obj(R"({"kind":"Service","spec":{"type":"LoadBalancer"}})")).status, Health::Progressing);
  EXPECT_EQ(assessHealth(obj(R"({"kind":"Service","spec":{"type":"ClusterIP"}})")).status, Health::Healthy);
  EXPECT_EQ(assessHealth(obj(R"({"kind":"Pod","status":{"phase":"Running","containerStatuses":[{"state":{"waiting":{"reason":"CrashLoopBackOff"}}}]}})")).status,
            Health::Degraded);
  EXPECT_EQ(assessHealth(obj(R"({"kind":"Widget","status":{"conditions":[{"type":"Ready","status":"False","message":"no"}]}})")).status, Health::Degraded);
  EXPECT_EQ(assessHealth(obj(R"({"kind":"ConfigMap","data":{}})")).status, Health::Healthy);
}

TEST(GitOpsSyncPlan, AggregateIsTheWorst) {
  EXPECT_EQ(worse(Health::Healthy, Health::Progressing), Health::Progressing);
  EXPECT_EQ(worse(Health::Degraded, Health::Missing), Health::Degraded);
  EXPECT_EQ(worse(Health::Suspended, Health::Healthy), Health::Suspended);
}

TEST(GitOpsSyncPlan, DriftIsWhatGitSetsAndLiveDoesNot) {
  json::value desired = obj(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labels":{"a":"1"}},
    "spec":{"replicas":2,"template":{"spec":{"containers":[{"name":"web","image":"busybox:1.37"}]}}}})");
  json::value live = obj(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","uid":"u","labels":{"a":"1","extra":"x"}},
    "spec":{"replicas":2.0,"strategy":{},"template":{"spec":{"containers":[{"name":"web","image":"busybox:1.37","imagePullPolicy":"IfNotPresent"}]}}},
    "status":{"replicas":2}})");
  EXPECT_TRUE(diffObjects(desired, live).empty());  // defaults, server metadata and status are not drift
  api::valueAt(live, "spec")->as_object();
  live.as_object()["spec"].as_object()["template"].as_object()["spec"].as_object()["containers"].as_array()[0].as_object()["image"] = "busybox:1.36";
  live.as_object()["metadata"].as_object()["labels"].as_object().erase("a");
  auto drift = diffObjects(desired, live);
  ASSERT_EQ(drift.size(), 2u);
  EXPECT_EQ(drift[0].path, "metadata.labels.a");
  EXPECT_TRUE(drift[0].live.is_null());
  EXPECT_EQ(drift[1].path, "spec.template.spec.containers[0].image");
  EXPECT_EQ(drift[1].live, json::value("busybox:1.36"));
}

TEST(GitOpsSyncPlan, SyncOptionsAnnotation) {
  json::value o = obj(R"({"metadata":{"annotations":{"argocd.argoproj.io/sync-options":"Validate=false, Prune=false"}}})");
  EXPECT_TRUE(hasSyncOption(o, "Prune=false"));
  EXPECT_FALSE(hasSyncOption(o, "Prune=true"));
  EXPECT_FALSE(hasSyncOption(obj(R"({"metadata":{}})"), "Prune=false"));
}

}  // namespace skiff::gitops
