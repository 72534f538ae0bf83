#include "api/admission.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "api/resources.h"
#include "api/schema.h"

namespace skiff::api {
namespace json = boost::json;

const ResourceType& kind(const char* apiVersion, const char* k) { return *findByKind(apiVersion, k); }

std::vector<std::string> fields(const std::vector<FieldCause>& causes) {
  std::vector<std::string> out;
  for (const auto& c : causes) out.push_back(c.field);
  return out;
}

TEST(Defaults, PodGetsKubernetesDefaults) {
  json::value pod = json::parse(R"({"metadata":{"name":"p"},"spec":{"containers":[
      {"name":"a","image":"busybox"},{"name":"b","image":"nginx:1.25","ports":[{"containerPort":80}]}]}})");
  applyDefaults(kind("v1", "Pod"), pod);
  EXPECT_EQ(pod.at_pointer("/spec/restartPolicy"), json::value("Always"));
  EXPECT_EQ(pod.at_pointer("/spec/terminationGracePeriodSeconds"), json::value(30));
  EXPECT_EQ(pod.at_pointer("/spec/containers/0/imagePullPolicy"), json::value("Always"));
  EXPECT_EQ(pod.at_pointer("/spec/containers/1/imagePullPolicy"), json::value("IfNotPresent"));
  EXPECT_EQ(pod.at_pointer("/spec/containers/1/ports/0/protocol"), json::value("TCP"));
  EXPECT_EQ(pod.at_pointer("/status/phase"), json::value("Pending"));
}

TEST(Defaults, DeploymentStrategyAndReplicas) {
  json::value d = json::parse(R"({"spec":{"template":{"spec":{"containers":[{"name":"a","image":"x:1"}]}}}})");
  applyDefaults(kind("apps/v1", "Deployment"), d);
  EXPECT_EQ(d.at_pointer("/spec/replicas"), json::value(1));
  EXPECT_EQ(d.at_pointer("/spec/strategy/rollingUpdate/maxSurge"), json::value("25%"));
  EXPECT_EQ(d.at_pointer("/spec/template/spec/dnsPolicy"), json::value("ClusterFirst"));
}

TEST(Defaults, ServiceClientIpAffinityStaysThreeHoursAndItsBoundsAreChecked) {
  json::value svc = json::parse(R"({"metadata":{"name":"s"},"spec":{"sessionAffinity":"ClientIP","ports":[{"port":80}]}})");
  applyDefaults(kind("v1", "Service"), svc);
  EXPECT_EQ(svc.at_pointer("/spec/sessionAffinityConfig/clientIP/timeoutSeconds"), json::value(10800));
  EXPECT_TRUE(validateObject(kind("v1", "Service"), svc, nullptr).empty());

  json::value kept = json::parse(R"({"metadata":{"name":"s"},"spec":{"sessionAffinity":"ClientIP",
      "sessionAffinityConfig":{"clientIP":{"timeoutSeconds":60}},"ports":[{"port":80}]}})");
  applyDefaults(kind("v1", "Service"), kept);
  EXPECT_EQ(kept.at_pointer("/spec/sessionAffinityConfig/clientIP/timeoutSeconds"), json::value(60));

  for (const char* bad : {"0", "86401", "\"1h\""}) {
    json::value svc2 = json::parse(std::string(R"({"metadata":{"name":"s"},"spec":{"sessionAffinity":"ClientIP",
        "sessionAffinityConfig":{"clientIP":{"timeoutSeconds":)") + bad + R"(}},"ports":[{"port":80}]}})");
    auto causes = validateObject(kind("v1", "Service"), svc2, nullptr);
    ASSERT_FALSE(causes.empty()) << bad;
    EXPECT_EQ(causes[0].field, "spec.sessionAffinityConfig.clientIP.timeoutSeconds") << bad;
  }
  // Turning affinity off drops the config (kubectl patch sessionAffinity None works, as in Kubernetes);
  // an object that skipped defaulting is still refused.
  json::value none = json::parse(R"({"metadata":{"name":"s"},"spec":{"sessionAffinity":"None","sessionAffinityConfig":{"clientIP":{"timeoutSeconds":60}},"ports":[{"port":80}]}})");
  auto causes = validateObject(kind("v1", "Service"), none, nullptr);
  ASSERT_EQ(causes.size(), 1u);
  EXPECT_EQ(causes[0].field, "spec.sessionAffinityConfig");
  EXPECT_EQ(causes[0].message, "Forbidden: must not be set when session affinity is None");
  applyDefaults(kind("v1", "Service"), none);
  EXPECT_EQ(none.at("spec").as_object().count("sessionAffinityConfig"), 0u);
  EXPECT_TRUE(validateObject(kind("v1", "Service"), none, nullptr).empty());
}

TEST(Validation, PodReportsEveryFieldPath) {
  json::value pod = json::parse(R"({"metadata":{"name":"Bad_Name"},"spec":{"restartPolicy":"Sometimes","containers":[
      {"name":"a"},{"name":"a","image":"x","ports":[{"containerPort":70000}]}]}})");
  auto causes = validateObject(kind("v1", "Pod"), pod, nullptr);
  auto f = fields(causes);
  for (const char* want : {"metadata.name", "spec.restartPolicy", "spec.containers[0].image", "spec.containers[1].name",
                           "spec.containers[1].ports[0].containerPort"})
    EXPECT_NE(std::find(f.begin(), f.end(), want), f.end()) << want;
  Error e = invalidObject(kind("v1", "Pod"), "Bad_Name", causes);
  EXPECT_EQ(e.code, 422);
  EXPECT_EQ(e.reason, "Invalid");
  EXPECT_NE(e.message.find("Pod \"Bad_Name\" is invalid: ["), std::string::npos);
  EXPECT_NE(e.message.find("spec.restartPolicy: Unsupported value: \"Sometimes\""), std::string::npos);
}

TEST(Validation, DeploymentSelectorMustMatchTemplate) {
  json::value d = json::parse(R"({"metadata":{"name":"d"},"spec":{"replicas":-1,"selector":{"matchLabels":{"app":"a"}},
      "template":{"metadata":{"labels":{"app":"b"}},"spec":{"containers":[{"name":"c","image":"x"}]}},
      "strategy":{"type":"Sideways"}}})");
  auto f = fields(validateObject(kind("apps/v1", "Deployment"), d, nullptr));
  for (const char* want : {"spec.replicas", "spec.template.metadata.labels", "spec.strategy.type"})
    EXPECT_NE(std::find(f.begin(), f.end(), want), f.end()) << want;
}

TEST(Validation, PodDisruptionBudgetAsKubernetes) {
  const auto& pdb = kind("policy/v1", "PodDisruptionBudget");
  auto causes = [&](const char* spec) {
    return validateObject(pdb, json::parse(std::string(R"({"metadata":{"name":"web","namespace":"shop"},"spec":)") + spec + "}"), nullptr);
  };
  EXPECT_TRUE(causes(R"({"minAvailable":2,"selector":{"matchLabels":{"app":"web"}}})").empty());
  EXPECT_TRUE(causes(R"({"maxUnavailable":"25%","selector":{}})").empty());
  EXPECT_TRUE(causes(R"({"minAvailable":1})").empty()) << "a budget without a selector is valid (it selects nothing)";
  auto both = causes(R"({"minAvailable":1,"maxUnavailable":1})");
  ASSERT_EQ(both.size(), 1u);
  EXPECT_EQ(both[0].field, "spec.minAvailable");
  EXPECT_EQ(both[0].message, "Invalid value: 1: minAvailable and maxUnavailable cannot be both set");
  auto word = causes(R"({"minAvailable":"half"})");
  ASSERT_EQ(word.size(), 1u);
  EXPECT_EQ(word[0].message, "Invalid value: \"half\": must be an integer or percentage (e.g '5%')");
  auto over = causes(R"({"maxUnavailable":"150%"})");
  ASSERT_EQ(over.size(), 1u);
  EXPECT_EQ(over[0].message, "Invalid value: \"150%\": must not be greater than 100%");
  auto negative = causes(R"({"minAvailable":-1})");
  ASSERT_EQ(negative.size(), 1u);
  EXPECT_EQ(negative[0].message, "Invalid value: -1: must be greater than or equal to 0");
  auto selector = causes(R"({"minAvailable":1,"selector":{"matchExpressions":[{"key":"app","operator":"Near"}]}})");
  ASSERT_EQ(selector.size(), 1u);
  EXPECT_EQ(selector[0].field, "spec.selector");
  auto policy = causes(R"({"minAvailable":1,"unhealthyPodEvictionPolicy":"Sometimes"})");
  ASSERT_EQ(policy.size(), 1u);
  EXPECT_EQ(policy[0].field, "spec.unhealthyPodEvictionPolicy");
}

TEST(Validation, ValidObjectsPass) {
  json::value svc = json::parse(R"({"metadata":{"name":"web"},"spec":{"ports":[{"port":80}],"selector":{"a":"b"}}})");
  applyDefaults(kind("v1", "Service"), svc);
  EXPECT_TRUE(validateObject(kind("v1", "Service"), svc, nullptr).empty());
  json::value cm = json::parse(R"({"metadata":{"name":"c","labels":{"app.kubernetes.io/name":"x"}},"data":{"a.txt":"1"}})");
  EXPECT_TRUE(validateObject(kind("v1", "ConfigMap"), cm, nullptr).empty());
}

TEST(Validation, OwnerReferences) {
  json::value cm = json::parse(R"({"metadata":{"name":"c","ownerReferences":[
      {"apiVersion":"apps/v1","kind":"ReplicaSet","name":"r","uid":"1","controller":true},
      {"apiVersion":"apps/v1","kind":"ReplicaSet","name":"s","controller":true}]}})");
  auto f = fields(validateObject(kind("v1", "ConfigMap"), cm, nullptr));
  EXPECT_NE(std::find(f.begin(), f.end(), "metadata.ownerReferences[1].uid"), f.end());
  EXPECT_NE(std::find(f.begin(), f.end(), "metadata.ownerReferences"), f.end());
}

TEST(Validation, ImmutableConfigMap) {
  json::value old = json::parse(R"({"metadata":{"name":"c"},"immutable":true,"data":{"a":"1"}})");
  json::value next = json::parse(R"({"metadata":{"name":"c"},"immutable":true,"data":{"a":"2"}})");
  auto f = fields(validateObject(kind("v1", "ConfigMap"), next, &old));
  EXPECT_EQ(f, std::vector<std::string>{"data"});
}

TEST(Defaults, SecretStringDataIsMergedIntoDataAndNamespacesLabelTheirName) {
  json::value secret = json::parse(R"({"metadata":{"name":"s"},"data":{"a":"b2xk","b":"a2VlcA=="},"stringData":{"a":"new","c":"plain text"}})");
  applyDefaults(kind("v1", "Secret"), secret);
  EXPECT_EQ(secret.at_pointer("/data/a"), json::value("bmV3"));  // stringData wins
  EXPECT_EQ(secret.at_pointer("/data/b"), json::value("a2VlcA=="));
  EXPECT_EQ(secret.at_pointer("/data/c"), json::value("cGxhaW4gdGV4dA=="));
  EXPECT_FALSE(secret.as_object().contains("stringData"));
  EXPECT_EQ(secret.at_pointer("/type"), json::value("Opaque"));
  json::value ns = json::parse(R"({"metadata":{"name":"shop","labels":{"team":"a"}}})");
  applyDefaults(kind("v1", "Namespace"), ns);
  EXPECT_EQ(ns.at_pointer("/metadata/labels/kubernetes.io~1metadata.name"), json::value("shop"));
  EXPECT_EQ(ns.at_pointer("/metadata/labels/team"), json::value("a"));
}

TEST(Validation, SecretTypesNeedTheirKeys) {
  json::value tls = json::parse(R"({"metadata":{"name":"t"},"type":"kubernetes.io/tls","data":{"tls.crt":"aGVsbG8="}})");
  EXPECT_EQ(fields(validateObject(kind("v1", "Secret"), tls, nullptr)), std::vector<std::string>{"data[tls.key]"});
  json::value pull = json::parse(R"({"metadata":{"name":"p"},"type":"kubernetes.io/dockerconfigjson"})");
  EXPECT_EQ(fields(validateObject(kind("v1", "Secret"), pull, nullptr)), std::vector<std::string>{"data[.dockerconfigjson]"});
  json::value opaque = json::parse(R"({"metadata":{"name":"o"},"type":"Opaque"})");
  EXPECT_TRUE(validateObject(kind("v1", "Secret"), opaque, nullptr).empty());
}

TEST(Validation, Quantities) {
  for (const char* q : {"100m", "1.5Gi", "2e3", "128974848", "1", "0.5", ".5"}) EXPECT_TRUE(isValidQuantity(q)) << q;
  for (const char* q : {"", "1GB", "abc", "1.2.3", "Mi"}) EXPECT_FALSE(isValidQuantity(q)) << q;
}

TEST(Schema, WrongTypesAndUnknownFields) {
  json::value d = json::parse(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d","bogus":1},
      "spec":{"replicas":"three","template":{"spec":{"containers":[{"name":"c","image":"x","imagePullPolicy":7,"extra":true}]}}}})");
  json::value copy = d;
  auto strict = checkSchema(*schemaForKind("Deployment"), copy, FieldValidation::Strict);
  ASSERT_EQ(strict.typeErrors.size(), 2u);
  EXPECT_EQ(strict.typeErrors[0].field, "spec.replicas");
  EXPECT_EQ(strict.unknownFields.size(), 2u);
  EXPECT_EQ(copy, d);  // strict leaves the object as it was (the request is refused)
  auto warn = checkSchema(*schemaForKind("Deployment"), d, FieldValidation::Warn);
  EXPECT_EQ(warn.unknownFields.size(), 2u);
  EXPECT_EQ(d.at_pointer("/metadata").get_object().count("bogus"), 0u);  // dropped, as Kubernetes does
}

TEST(Schema, VolumeSourcesAndAnySubtreesAreKept) {
  json::value pod = json::parse(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},
      "spec":{"volumes":[{"name":"v","csi":{"driver":"x"}}],"affinity":{"nodeAffinity":{"anything":1}},
              "containers":[{"name":"c","image":"x","resources":{"limits":{"cpu":"1","memory":128}}}]}})");
  json::value before = pod;
  auto r = checkSchema(*schemaForKind("Pod"), pod, FieldValidation::Strict);
  EXPECT_TRUE(r.typeErrors.empty());
  EXPECT_TRUE(r.unknownFields.empty());
  EXPECT_EQ(pod, before);
}

TEST(Validation, HttpRoutePathModifiersFollowTheGatewayApiRules) {
  json::value route = json::parse(R"({"apiVersion":"gateway.networking.k8s.io/v1","kind":"HTTPRoute","metadata":{"name":"r"},"spec":{"rules":[
      {"matches":[{"path":{"type":"Exact","value":"/a"}}],"filters":[{"type":"URLRewrite","urlRewrite":{"path":{"type":"ReplacePrefixMatch","replacePrefixMatch":"/b"}}}]},
      {"filters":[{"type":"URLRewrite","urlRewrite":{"path":{"type":"ReplaceFullPath"}}}]},
      {"filters":[{"type":"RequestRedirect","requestRedirect":{"path":{"type":"Replace","replaceFullPath":"x"}}}]},
      {"matches":[{"path":{"type":"PathPrefix","value":"/ok"}}],"filters":[{"type":"URLRewrite","urlRewrite":{"path":{"type":"ReplacePrefixMatch","replacePrefixMatch":"/fine"}}}]}]}})");
  auto f = fields(validateObject(kind("gateway.networking.k8s.io/v1", "HTTPRoute"), route, nullptr));
  EXPECT_EQ(f, (std::vector<std::string>{"spec.rules[0].filters[0].urlRewrite.path.replacePrefixMatch", "spec.rules[1].filters[0].urlRewrite.path",
                                         "spec.rules[2].filters[0].requestRedirect.path.type",
                                         "spec.rules[2].filters[0].requestRedirect.path.replaceFullPath"}));
}

TEST(Validation, HttpRouteRequestMirrorFollowsTheGatewayApiRules) {
  json::value route = json::parse(R"({"apiVersion":"gateway.networking.k8s.io/v1","kind":"HTTPRoute","metadata":{"name":"r"},"spec":{"rules":[
      {"filters":[{"type":"RequestMirror"},
                  {"type":"RequestMirror","requestMirror":{"backendRef":{"name":"m"},"percent":101}},
                  {"type":"RequestMirror","requestMirror":{"backendRef":{"port":80},"percent":5,"fraction":{"numerator":1}}},
                  {"type":"RequestMirror","requestMirror":{"backendRef":{"name":"m","port":80},"fraction":{"numerator":3,"denominator":2}}},
                  {"type":"RequestMirror","requestMirror":{"backendRef":{"name":"m","port":80},"fraction":{"denominator":0}}},
                  {"type":"RequestMirror","requestMirror":{"backendRef":{"name":"m","port":80},"fraction":{"numerator":1,"denominator":4}}},
                  {"type":"RequestMirror","requestMirror":{"backendRef":{"name":"m","port":80},"percent":0}}]}]}})");
  auto f = fields(validateObject(kind("gateway.networking.k8s.io/v1", "HTTPRoute"), route, nullptr));
  EXPECT_EQ(f, (std::vector<std::string>{"spec.rules[0].filters[0].requestMirror", "spec.rules[0].filters[1].requestMirror.backendRef.port",
                                         "spec.rules[0].filters[1].requestMirror.percent", "spec.rules[0].filters[2].requestMirror.backendRef.name",
                                         "spec.rules[0].filters[2].requestMirror", "spec.rules[0].filters[3].requestMirror.fraction",
                                         "spec.rules[0].filters[4].requestMirror.fraction.numerator",
                                         "spec.rules[0].filters[4].requestMirror.fraction.denominator"}));
}

TEST(Validation, TrafficPolicyAnnotationsAndGatewayApi) {
  json::value svc = json::parse(R"({"metadata":{"name":"web","annotations":{"skiff.dev/timeout":"soon","skiff.dev/retries":"99",
      "skiff.dev/load-balancer":"fastest","skiff.dev/retry-on":"5xx,teapot"}},"spec":{"ports":[{"port":80}]}})");
  auto f = fields(validateObject(kind("v1", "Service"), svc, nullptr));
  for (const char* want : {"metadata.annotations[skiff.dev/timeout]", "metadata.annotations[skiff.dev/retries]",
                           "metadata.annotations[skiff.dev/load-balancer]", "metadata.annotations[skiff.dev/retry-on]"})
    EXPECT_NE(std::find(f.begin(), f.end(), want), f.end()) << want;
  json::value route = json::parse(R"({"metadata":{"name":"r"},"spec":{"parentRefs":[{"name":"gw"}],"rules":[
      {"matches":[{"path":{"type":"Glob","value":"/a"}},{"path":{"type":"RegularExpression","value":"(["}}],
       "backendRefs":[{"name":"web"},{"name":"api","port":80,"weight":-1}],"timeouts":{"request":"1s","backendRequest":"5s"}}]}})");
  f = fields(validateObject(kind("gateway.networking.k8s.io/v1", "HTTPRoute"), route, nullptr));
  for (const char* want : {"spec.rules[0].matches[0].path.type", "spec.rules[0].matches[1].path.value", "spec.rules[0].backendRefs[0].port",
                           "spec.rules[0].backendRefs[1].weight", "spec.rules[0].timeouts.backendRequest"})
    EXPECT_NE(std::find(f.begin(), f.end(), want), f.end()) << want;
  json::value gw = json::parse(R"({"metadata":{"name":"g"},"spec":{"gatewayClassName":"skiff","listeners":[{"name":"a","port":80,"protocol":"HTTP"},{"name":"a","port":0,"protocol":"QUIC"}]}})");
  f = fields(validateObject(kind("gateway.networking.k8s.io/v1", "Gateway"), gw, nullptr));
  for (const char* want : {"spec.listeners[1].name", "spec.listeners[1].port", "spec.listeners[1].protocol"})
    EXPECT_NE(std::find(f.begin(), f.end(), want), f.end()) << want;
  json::value ok = json::parse(R"({"metadata":{"name":"r"},"spec":{"parentRefs":[{"name":"gw"}],"rules":[{"backendRefs":[{"name":"web","port":80}]}]}})");
  EXPECT_TRUE(validateObject(kind("gateway.networking.k8s.io/v1", "HTTPRoute"), ok, nullptr).empty());
  json::value grpc = json::parse(R"({"metadata":{"name":"r"},"spec":{"parentRefs":[{"name":"gw"}],"rules":[
      {"matches":[{"method":{}},{"method":{"service":"shop/v1","method":"Get"}},{"method":{"type":"RegularExpression","method":"(["}},
                  {"method":{"type":"Prefix","service":"a"},"headers":[{"name":"","value":"x"}]}],
       "backendRefs":[{"name":"api"}],"filters":[{"type":"URLRewrite"}]}]}})");
  f = fields(validateObject(kind("gateway.networking.k8s.io/v1", "GRPCRoute"), grpc, nullptr));
  for (const char* want : {"spec.rules[0].matches[0].method", "spec.rules[0].matches[1].method.service", "spec.rules[0].matches[2].method.method",
                           "spec.rules[0].matches[3].method.type", "spec.rules[0].matches[3].headers[0].name", "spec.rules[0].backendRefs[0].port",
                           "spec.rules[0].filters[0].type"})
    EXPECT_NE(std::find(f.begin(), f.end(), want), f.end()) << want;
  json::value grpcOk = json::parse(R"({"metadata":{"name":"r"},"spec":{"parentRefs":[{"name":"gw"}],"rules":[
      {"matches":[{"method":{"service":"shop.v1.Catalog","method":"Get"}},{"method":{"type":"RegularExpression","service":"shop\\..*"}}],
       "backendRefs":[{"name":"api","port":50051}]}]}})");
  EXPECT_TRUE(validateObject(kind("gateway.networking.k8s.io/v1", "GRPCRoute"), grpcOk, nullptr).empty());
}

}  // namespace skiff::api

namespace skiff::api {
namespace {

TEST(PodQosClass, KubernetesRules) {
  auto qos = [](std::string_view containers) {
    return podQosClass(boost::json::parse(std::string(R"({"containers":)") + std::string(containers) + "}"));
  };
  EXPECT_EQ(qos(R"([{"name":"a"}])"), "BestEffort");
  EXPECT_EQ(qos(R"([{"name":"a","resources":{"requests":{"cpu":"100m"}}}])"), "Burstable");
  EXPECT_EQ(qos(R"([{"name":"a","resources":{"limits":{"cpu":"1","memory":"1Gi"}}}])"), "Guaranteed");
  EXPECT_EQ(qos(R"([{"name":"a","resources":{"limits":{"cpu":"1","memory":"1Gi"},"requests":{"cpu":"1000m","memory":"1Gi"}}}])"), "Guaranteed");
  EXPECT_EQ(qos(R"([{"name":"a","resources":{"limits":{"cpu":"1","memory":"1Gi"},"requests":{"cpu":"500m"}}}])"), "Burstable");
  EXPECT_EQ(qos(R"([{"name":"a","resources":{"limits":{"cpu":"1","memory":"1Gi"}}},{"name":"b"}])"), "Burstable");
}

}  // namespace
}  // namespace skiff::api
