// Audit policies as kube-apiserver reads them: the first matching rule decides the level, stages
// can be omitted, bad policies are refused with the rule's path, and the log rotates by size.
#include "apiserver/audit.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace skiff::apiserver {
namespace {

const char* kPolicy = R"(
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: None
  users: ["system:kube-proxy"]
- level: Metadata
  resources: [{group: "", resources: ["secrets", "configmaps"]}]
- level: RequestResponse
  resources: [{group: "apps", resources: ["deployments/scale"]}]
- level: None
  nonResourceURLs: ["/healthz*", "/version"]
- level: Request
  verbs: [create, update, patch]
  namespaces: [shop]
)";

auth::RequestInfo resource(const char* verb, const char* group, const char* res, const char* ns, const char* sub = "") {
  auth::RequestInfo r;
  r.isResource = true;
  r.verb = verb;
  r.apiGroup = group;
  r.resource = res;
  r.ns = ns;
  r.subresource = sub;
  return r;
}

TEST(AuditPolicy, TheFirstMatchingRuleDecides) {
  auto p = AuditPolicy::parse(kPolicy);
  ASSERT_TRUE(p) << p.error().message;
  auth::UserInfo jane{"jane", {"devs"}, "", ""}, proxy{"system:kube-proxy", {}, "", ""};
  EXPECT_EQ(p->decide(proxy, resource("get", "", "secrets", "shop")).first, AuditLevel::None);
  EXPECT_EQ(p->decide(jane, resource("get", "", "secrets", "shop")).first, AuditLevel::Metadata);
  EXPECT_EQ(p->decide(jane, resource("update", "apps", "deployments", "shop", "scale")).first, AuditLevel::RequestResponse);
  EXPECT_EQ(p->decide(jane, resource("create", "", "pods", "shop")).first, AuditLevel::Request);
  EXPECT_EQ(p->decide(jane, resource("create", "", "pods", "other")).first, AuditLevel::None) << "no rule matches";
  auth::RequestInfo health;
  health.verb = "get";
  health.path = "/healthz/ready";
  EXPECT_EQ(p->decide(jane, health).first, AuditLevel::None);
  EXPECT_TRUE(p->decide(jane, resource("get", "", "secrets", "shop")).second.count("RequestReceived"));
}

TEST(AuditPolicy, BadPoliciesNameTheRule) {
  auto badLevel = AuditPolicy::parse("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Everything\n");
  ASSERT_FALSE(badLevel);
  EXPECT_NE(badLevel.error().message.find("rules[0].level: Unsupported value: \"Everything\""), std::string::npos);
  auto badStage = AuditPolicy::parse("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n  omitStages: [Later]\n");
  ASSERT_FALSE(badStage);
  EXPECT_NE(badStage.error().message.find("rules[0].omitStages"), std::string::npos);
  EXPECT_FALSE(AuditPolicy::parse("apiVersion: v1\nkind: ConfigMap\n"));
  EXPECT_FALSE(AuditPolicy::parse("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: []\n"));
}

TEST(AuditLog, WritesEventsAndRotatesBySize) {
  auto dir = std::filesystem::temp_directory_path() / ("skiff-audit-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "policy.yaml") << "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Request\n";
  auto log = AuditLog::open({(dir / "policy.yaml").string(), (dir / "audit.log").string(), 1, 2});
  ASSERT_TRUE(log) << log.error().message;
  auth::UserInfo jane{"jane", {"devs"}, "", ""};
  auto info = resource("create", "", "configmaps", "shop");
  std::string body = std::string(R"({"kind":"ConfigMap","data":{"k":")") + std::string(600, 'x') + "\"}}";
  AuditLog::Entry e{&jane, &info, "POST", "/api/v1/namespaces/shop/configmaps", "kubectl", "127.0.0.1", 201, false,
                    [&body] { return boost::json::parse(body); }, "", "2026-12-05T00:00:00Z"};
  for (int i = 0; i < 4000; ++i) (*log)->log(e);  // ~3.5 MiB: rotates three times, keeps two backups
  EXPECT_TRUE(std::filesystem::exists(dir / "audit.log.1"));
  EXPECT_TRUE(std::filesystem::exists(dir / "audit.log.2"));
  EXPECT_FALSE(std::filesystem::exists(dir / "audit.log.3"));
  EXPECT_LE(std::filesystem::file_size(dir / "audit.log"), size_t(1 << 20));
  std::ifstream in(dir / "audit.log.1");
  std::string line;
  std::getline(in, line);
  EXPECT_NE(line.find(R"("apiVersion":"audit.k8s.io/v1")"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("level":"Request")"), std::string::npos);
  EXPECT_NE(line.find(R"("requestObject":{"kind":"ConfigMap")"), std::string::npos);
  EXPECT_NE(line.find(R"("objectRef":{"resource":"configmaps")"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace skiff::apiserver
