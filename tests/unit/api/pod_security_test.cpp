// The Pod Security Standards, check by check, with Kubernetes' reasons and details.
#include "api/pod_security.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace skiff::api::podsecurity {
namespace {
namespace json = boost::json;

std::string verdict(Level level, const char* podJson) {
  json::value pod = json::parse(podJson);
  return describe(check(level, viewOf(pod.as_object().if_contains("metadata"), pod.as_object().if_contains("spec"))));
}

TEST(PodSecurity, ADefaultPodPassesBaselineButNotRestricted) {
  const char* pod = R"({"spec":{"containers":[{"name":"app","image":"busybox"}]}})";
  EXPECT_EQ(verdict(Level::Privileged, pod), "");
  EXPECT_EQ(verdict(Level::Baseline, pod), "");
  EXPECT_EQ(verdict(Level::Restricted, pod),
            "allowPrivilegeEscalation != false (container \"app\" must set securityContext.allowPrivilegeEscalation=false), "
            "unrestricted capabilities (container \"app\" must set securityContext.capabilities.drop=[\"ALL\"]), "
            "runAsNonRoot != true (pod or container \"app\" must set securityContext.runAsNonRoot=true), "
            "seccompProfile (pod or container \"app\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")");
}

TEST(PodSecurity, ARestrictedPodPasses) {
  const char* pod = R"({"spec":{"securityContext":{"runAsNonRoot":true,"seccompProfile":{"type":"RuntimeDefault"}},
    "containers":[{"name":"app","image":"busybox","securityContext":{"allowPrivilegeEscalation":false,
      "capabilities":{"drop":["ALL"],"add":["NET_BIND_SERVICE"]}}}],
    "volumes":[{"name":"data","emptyDir":{}},{"name":"cfg","configMap":{"name":"c"}}]}})";
  EXPECT_EQ(verdict(Level::Restricted, pod), "");
}

TEST(PodSecurity, BaselineRefusesHostAccessAndPrivilege) {
  const char* pod = R"({"spec":{"hostNetwork":true,"hostPID":true,
    "securityContext":{"sysctls":[{"name":"net.ipv4.ip_forward","value":"1"},{"name":"net.ipv4.tcp_syncookies","value":"1"}]},
    "containers":[{"name":"a","image":"x","ports":[{"containerPort":80,"hostPort":8080}],
                   "securityContext":{"privileged":true,"capabilities":{"add":["SYS_ADMIN","CHOWN"]}}},
                  {"name":"b","image":"x","securityContext":{"privileged":true,"procMount":"Unmasked","seccompProfile":{"type":"Unconfined"}}}],
    "volumes":[{"name":"root","hostPath":{"path":"/"}}]}})";
  EXPECT_EQ(verdict(Level::Baseline, pod),
            "non-default capabilities (container \"a\" must not include \"SYS_ADMIN\" in securityContext.capabilities.add), "
            "host namespaces (hostNetwork=true, hostPID=true), "
            "hostPath volumes (volume \"root\"), "
            "hostPort (container \"a\" uses hostPort 8080), "
            "privileged (containers \"a\", \"b\" must not set securityContext.privileged=true), "
            "procMount (container \"b\" must not set securityContext.procMount to \"Unmasked\"), "
            "seccompProfile (container \"b\" must not set securityContext.seccompProfile.type to \"Unconfined\"), "
            "forbidden sysctls (net.ipv4.ip_forward)");
}

TEST(PodSecurity, RestrictedNamesExplicitRootAndVolumeTypes) {
  const char* pod = R"({"spec":{"securityContext":{"runAsNonRoot":false,"runAsUser":0,"seccompProfile":{"type":"RuntimeDefault"}},
    "initContainers":[{"name":"init","image":"x","securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]}}}],
    "containers":[{"name":"app","image":"x","securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"],"add":["CHOWN"]}}}],
    "volumes":[{"name":"nfs","nfs":{"server":"s","path":"/"}}]}})";
  EXPECT_EQ(verdict(Level::Restricted, pod),
            "unrestricted capabilities (container \"app\" must not include \"CHOWN\" in securityContext.capabilities.add), "
            "restricted volume types (volume \"nfs\" uses restricted volume type \"nfs\"), "
            "runAsNonRoot != true (pod must not set securityContext.runAsNonRoot=false), "
            "runAsUser=0 (pod must not set runAsUser=0)");
}

TEST(PodSecurity, NamespaceLabelsAreParsedAndCheckedWithTheirPaths) {
  auto ok = policyOf(json::parse(R"({"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"baseline",
    "pod-security.kubernetes.io/warn":"restricted","pod-security.kubernetes.io/warn-version":"v1.30"}}})"));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->enforce.text(), "baseline:latest");
  EXPECT_EQ(ok->warn.text(), "restricted:v1.30");
  EXPECT_EQ(ok->audit.text(), "privileged:latest");
  auto bad = policyOf(json::parse(R"({"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"strict",
    "pod-security.kubernetes.io/enforce-version":"1.30"}}})"));
  ASSERT_FALSE(bad);
  ASSERT_EQ(bad.error().causes.size(), 2u);
  EXPECT_EQ(bad.error().causes[0].field, "metadata.labels[pod-security.kubernetes.io/enforce]");
  EXPECT_NE(bad.error().causes[0].message.find("must be one of privileged, baseline, restricted"), std::string::npos);
}

TEST(PodSecurity, TheViewIgnoresWhatNoCheckReads) {
  json::value a = json::parse(R"({"metadata":{"labels":{"v":"1"}},"spec":{"containers":[{"name":"app","image":"busybox:1"}]}})");
  json::value b = json::parse(R"({"metadata":{"labels":{"v":"2"}},"spec":{"containers":[{"name":"app","image":"busybox:2"}]}})");
  EXPECT_TRUE(viewOf(&a.at("metadata"), &a.at("spec")) == viewOf(&b.at("metadata"), &b.at("spec")));
}

}  // namespace
}  // namespace skiff::api::podsecurity
