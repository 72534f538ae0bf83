#include "api/protobuf.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "api/conversion.h"
#include "api/object.h"

namespace skiff::api {
namespace json = boost::json;
namespace {

// A protobuf writer just big enough to build the bodies client-go sends.
struct Pb {
  std::string out;
  Pb& varint(uint64_t v) {
    while (v >= 0x80) out += char(uint8_t(v) | 0x80), v >>= 7;
    out += char(v);
    return *this;
  }
  Pb& tag(uint32_t field, uint32_t wire) { return varint(uint64_t(field) << 3 | wire); }
  Pb& str(uint32_t field, std::string_view s) {
    tag(field, 2).varint(s.size());
    out += s;
    return *this;
  }
  Pb& msg(uint32_t field, const Pb& m) { return str(field, m.out); }
  Pb& num(uint32_t field, int64_t v) { return tag(field, 0).varint(uint64_t(v)); }
  Pb& entry(uint32_t field, std::string_view k, std::string_view v) { return msg(field, Pb().str(1, k).str(2, v)); }
};

std::string envelope(std::string_view apiVersion, std::string_view kind, const Pb& object) {
  Pb unknown;
  unknown.msg(1, Pb().str(1, apiVersion).str(2, kind)).msg(2, object).str(4, "application/vnd.kubernetes.protobuf");
  return std::string("k8s\0", 4) + unknown.out;
}

TEST(Protobuf, ConfigMapAsKubectlCreateSendsIt) {
  // gogo-protobuf writes every non-pointer field, empty or not: empty strings and a zero time must
  // not show up in the JSON (Go's omitempty drops them).
  Pb meta;
  meta.str(1, "settings").str(2, "").str(3, "").msg(8, Pb()).entry(11, "app", "web");
  Pb cm;
  cm.msg(1, meta).entry(2, "a", "b").entry(2, "x", "").entry(3, "bin", std::string("\0\1", 2));
  auto v = decodeKubernetesProtobuf(envelope("v1", "ConfigMap", cm));
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ(json::serialize(*v),
            R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"settings","labels":{"app":"web"}},)"
            R"("data":{"a":"b","x":""},"binaryData":{"bin":"AAE="}})");
}

TEST(Protobuf, PointerZerosKeptOmitemptyZerosDropped) {
  Pb container;
  container.str(1, "web").str(2, "nginx").str(5, "")
      .msg(6, Pb().num(3, 80).str(4, "TCP"))
      .msg(7, Pb().str(1, "PASSWORD").msg(3, Pb().msg(4, Pb().msg(1, Pb().str(1, "creds")).str(2, "pw"))))
      .msg(11, Pb().msg(1, Pb().msg(2, Pb().str(1, "/healthz").msg(2, Pb().num(1, 0).num(2, 8080)))).num(4, 5))
      .msg(15, Pb().num(4, 0));  // runAsUser: 0 (root) is meaningful
  Pb podSpec;
  podSpec.msg(2, container).str(3, "Always");
  Pb spec;
  spec.num(1, 0)  // replicas: 0, a pointer
      .msg(2, Pb().entry(1, "app", "web"))
      .msg(3, Pb().msg(1, Pb().entry(11, "app", "web")).msg(2, podSpec))
      .msg(4, Pb().str(1, "RollingUpdate").msg(2, Pb().msg(1, Pb().num(1, 1).str(3, "25%")).msg(2, Pb().num(1, 0).num(2, 0))))
      .num(5, 0);  // minReadySeconds: 0, omitempty
  Pb deploy;
  deploy.msg(1, Pb().str(1, "web")).msg(2, spec).msg(3, Pb().num(1, 7));
  auto v = decodeKubernetesProtobuf(envelope("apps/v1", "Deployment", deploy));
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ(*valueAt(*v, "spec.replicas"), json::value(0));
  EXPECT_EQ(valueAt(*v, "spec.minReadySeconds"), nullptr);
  EXPECT_EQ(stringAt(*v, "spec.strategy.rollingUpdate.maxUnavailable"), "25%");
  EXPECT_EQ(*valueAt(*v, "spec.strategy.rollingUpdate.maxSurge"), json::value(0));
  EXPECT_EQ(valueAt(*v, "status"), nullptr);  // status is not written through the main resource
  const json::value& c = (*valueAt(*v, "spec.template.spec.containers")).as_array().at(0);
  EXPECT_EQ(json::serialize(c),
            R"({"name":"web","image":"nginx","ports":[{"containerPort":80,"protocol":"TCP"}],)"
            R"("env":[{"name":"PASSWORD","valueFrom":{"secretKeyRef":{"name":"creds","key":"pw"}}}],)"
            R"("readinessProbe":{"httpGet":{"path":"/healthz","port":8080},"periodSeconds":5},)"
            R"("securityContext":{"runAsUser":0}})");
}

TEST(Protobuf, DisruptionBudgetAndEvictionAsKubectlSendsThem) {
  // kubectl create pdb web --selector=app=web --min-available=2
  Pb spec;
  spec.msg(1, Pb().num(1, 0).num(2, 2)).msg(2, Pb().entry(1, "app", "web"));
  auto pdb = decodeKubernetesProtobuf(envelope("policy/v1", "PodDisruptionBudget", Pb().msg(1, Pb().str(1, "web")).msg(2, spec)));
  ASSERT_TRUE(pdb.ok()) << pdb.error().message;
  EXPECT_EQ(json::serialize(*valueAt(*pdb, "spec")), R"({"minAvailable":2,"selector":{"matchLabels":{"app":"web"}}})");
  // An Eviction with a zero grace period (a pointer: kept) and a dry run.
  Pb eviction;
  eviction.msg(1, Pb().str(1, "web-1").str(3, "shop")).msg(2, Pb().num(1, 0).str(5, "All"));
  auto v = decodeKubernetesProtobuf(envelope("policy/v1", "Eviction", eviction));
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ(json::serialize(*v), R"({"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"web-1","namespace":"shop"},)"
                                 R"("deleteOptions":{"gracePeriodSeconds":0,"dryRun":["All"]}})");
  EXPECT_TRUE(decodeKubernetesProtobuf(envelope("policy/v1beta1", "Eviction", eviction)).ok());
}

TEST(Protobuf, NegativeNumbersAndTimes) {
  Pb meta;
  meta.str(1, "p").msg(8, Pb().num(1, 1795000000));
  Pb pc;
  pc.msg(1, meta).num(2, -5);
  auto v = decodeKubernetesProtobuf(envelope("scheduling.k8s.io/v1", "PriorityClass", pc));
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ(*valueAt(*v, "value"), json::value(-5));
  EXPECT_EQ(stringAt(*v, "metadata.creationTimestamp"), "2026-11-18T11:06:40Z");
}

TEST(Protobuf, UnknownFieldsAndKindsRefusedByName) {
  Pb podSpec;
  podSpec.msg(2, Pb().str(1, "c")).msg(34, Pb().str(1, "debugger"));  // ephemeralContainers
  Pb pod;
  pod.msg(1, Pb().str(1, "p")).msg(2, podSpec);
  auto v = decodeKubernetesProtobuf(envelope("v1", "Pod", pod));
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().code, 415);
  EXPECT_NE(v.error().message.find("protobuf field 34 of PodSpec (at spec)"), std::string::npos) << v.error().message;
  auto kind = decodeKubernetesProtobuf(envelope("v1", "Endpoints", Pb()));
  ASSERT_FALSE(kind.ok());
  EXPECT_NE(kind.error().message.find("skiff does not decode Endpoints (v1) from protobuf"), std::string::npos);
}

TEST(Protobuf, MalformedBodiesAreErrorsNotCrashes) {
  Pb cm;
  cm.msg(1, Pb().str(1, "x"));
  std::string good = envelope("v1", "ConfigMap", cm);
  size_t refused = 0;
  for (size_t cut = 0; cut < good.size(); ++cut) refused += !decodeKubernetesProtobuf(std::string_view(good).substr(0, cut)).ok();
  EXPECT_GT(refused, good.size() / 2);  // cut inside a length or a number: an error, never a crash
  EXPECT_FALSE(decodeKubernetesProtobuf("{\"kind\":\"ConfigMap\"}").ok());
  EXPECT_FALSE(decodeKubernetesProtobuf(std::string("k8s\0\x0a\xff\xff\xff\xff\x0f", 10)).ok());
  // Wrong wire type for a string field.
  Pb wrong;
  wrong.msg(1, Pb().num(1, 3));
  auto v = decodeKubernetesProtobuf(envelope("v1", "ConfigMap", wrong));
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.error().message.find("metadata.name of ObjectMeta has the wrong wire type"), std::string::npos) << v.error().message;
}

TEST(Conversion, AutoscalingV1RoundTripKeepsWhatV1CannotSay) {
  const ResourceType* v1 = findByKind("autoscaling/v1", "HorizontalPodAutoscaler");
  ASSERT_NE(v1, nullptr);
  ASSERT_NE(storedVersionOf(*v1), nullptr);
  EXPECT_EQ(storedVersionOf(*v1)->version, "v2");
  json::value fromKubectl = json::parse(
      R"({"apiVersion":"autoscaling/v1","kind":"HorizontalPodAutoscaler","metadata":{"name":"web"},
          "spec":{"scaleTargetRef":{"kind":"Deployment","name":"web","apiVersion":"apps/v1"},"minReplicas":1,"maxReplicas":3,
                  "targetCPUUtilizationPercentage":50}})");
  json::value stored = convertToStored(*v1, fromKubectl);
  EXPECT_EQ(stringAt(stored, "apiVersion"), "autoscaling/v2");
  EXPECT_EQ(json::serialize(*valueAt(stored, "spec.metrics")),
            R"([{"type":"Resource","resource":{"name":"cpu","target":{"type":"Utilization","averageUtilization":50}}}])");
  EXPECT_EQ(valueAt(stored, "spec.targetCPUUtilizationPercentage"), nullptr);

  json::value v2 = json::parse(
      R"({"apiVersion":"autoscaling/v2","kind":"HorizontalPodAutoscaler","metadata":{"name":"web"},
          "spec":{"scaleTargetRef":{"kind":"Deployment","name":"web"},"maxReplicas":5,
                  "metrics":[{"type":"Resource","resource":{"name":"cpu","target":{"type":"Utilization","averageUtilization":70}}},
                             {"type":"Pods","pods":{"metric":{"name":"http_requests_per_second"},"target":{"type":"AverageValue","averageValue":"10"}}}],
                  "behavior":{"scaleDown":{"stabilizationWindowSeconds":60}}},
          "status":{"currentReplicas":2,"desiredReplicas":3,
                    "currentMetrics":[{"type":"Resource","resource":{"name":"cpu","current":{"averageUtilization":91}}}],
                    "conditions":[{"type":"AbleToScale","status":"True"}]}})");
  json::value view = convertFromStored(*v1, v2);
  EXPECT_EQ(stringAt(view, "apiVersion"), "autoscaling/v1");
  EXPECT_EQ(*valueAt(view, "spec.targetCPUUtilizationPercentage"), json::value(70));
  EXPECT_EQ(valueAt(view, "spec.metrics"), nullptr);
  EXPECT_EQ(*valueAt(view, "status.currentCPUUtilizationPercentage"), json::value(91));
  EXPECT_EQ(*valueAt(view, "status.desiredReplicas"), json::value(3));
  const json::value* kept = valueAt(view, "metadata.annotations");
  ASSERT_NE(kept, nullptr);
  EXPECT_TRUE(kept->as_object().contains("autoscaling.alpha.kubernetes.io/conditions"));
  EXPECT_TRUE(kept->as_object().contains("skiff.dev/autoscaling-v2-metrics"));

  json::value back = convertToStored(*v1, view);  // e.g. kubectl edit through v1
  EXPECT_EQ(json::serialize(*valueAt(back, "spec.metrics")), json::serialize(*valueAt(v2, "spec.metrics")));
  EXPECT_EQ(json::serialize(*valueAt(back, "spec.behavior")), json::serialize(*valueAt(v2, "spec.behavior")));
  const json::value* annotations = valueAt(back, "metadata.annotations");
  EXPECT_TRUE(!annotations || annotations->as_object().empty()) << json::serialize(back);
}

}  // namespace
}  // namespace skiff::api
