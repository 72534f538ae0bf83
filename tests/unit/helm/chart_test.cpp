// Charts rendered as `helm template` prints them; expected outputs written from Helm's documented
// behaviour (values scoping, install order, Source headers, partials and NOTES.txt excluded).
#include "helm/chart.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include <boost/json.hpp>

namespace skiff::helm {
namespace {
namespace json = boost::json;

std::string fixtures() { return (std::filesystem::path(__FILE__).parent_path() / "../../fixtures/helm").lexically_normal().string(); }
std::string slurp(const std::string& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<std::string> templateChart(const std::string& dir, const Value& values, const std::string& ns = "web") {
  auto chart = loadChart(dir);
  if (!chart.ok()) return chart.error();
  ReleaseOptions r;
  r.name = "shop";
  r.nameSpace = ns;
  auto m = renderChart(*chart, values, r);
  if (!m.ok()) return m.error();
  return formatTemplateOutput(*m);
}

TEST(HelmChart, RendersTheFixtureExactlyAsHelmTemplate) {
  auto out = templateChart(fixtures() + "/webapp", json::object());
  ASSERT_TRUE(out.ok()) << out.error().message;
  EXPECT_EQ(*out, slurp(fixtures() + "/webapp.expected.yaml"));
}

TEST(HelmChart, ConditionDisablesSubchartAndSetOverridesValues) {
  Value v = json::object();
  ASSERT_TRUE(applySetValue(v, "cache.enabled=false,replicaCount=5,ingress.enabled=true", false).ok());
  auto out = templateChart(fixtures() + "/webapp", v);
  ASSERT_TRUE(out.ok()) << out.error().message;
  EXPECT_EQ(out->find("shop-cache"), std::string::npos);
  EXPECT_NE(out->find("replicas: 5\n"), std::string::npos);
  // Ingress sorts after the Deployment (Helm's install order) though it shares service.yaml.
  EXPECT_GT(out->find("kind: Ingress"), out->find("kind: Deployment"));
}

TEST(HelmChart, MissingChartAndTemplateErrorsAreClear) {
  auto missing = templateChart(fixtures() + "/nope", json::object());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("chart not found"), std::string::npos);
}

TEST(HelmStrvals, ParsesHelmSetSyntax) {
  Value v = json::object();
  ASSERT_TRUE(applySetValue(v, R"(a.b=c,list[1]=x,n=3,t=true,z=007,esc\.aped=y\,z,arr={1,two})", false).ok());
  EXPECT_EQ(json::serialize(v), R"({"a":{"b":"c"},"list":[null,"x"],"n":3,"t":true,"z":"007","esc.aped":"y,z","arr":[1,"two"]})");
  Value s = json::object();
  ASSERT_TRUE(applySetValue(s, "n=3", true).ok());
  EXPECT_EQ(json::serialize(s), R"({"n":"3"})");
  Value bad = json::object();
  EXPECT_FALSE(applySetValue(bad, "novalue", false).ok());
}

TEST(HelmValues, CoalesceMergesMapsAndNullDeletes) {
  Value d = json::parse(R"({"a": {"x": 1, "y": 2}, "b": 1})");
  Value u = json::parse(R"({"a": {"y": 3}, "b": null})");
  EXPECT_EQ(json::serialize(coalesceValues(d, u)), R"({"a":{"x":1,"y":3}})");
}

}  // namespace
}  // namespace skiff::helm

namespace skiff::helm {
namespace {
TEST(HelmChart, ValuesSchemaRefusesValuesThatDoNotFit) {
  auto dir = std::filesystem::temp_directory_path() / ("skiff-helm-schema-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "templates");
  std::ofstream(dir / "Chart.yaml") << "apiVersion: v2\nname: s\nversion: 0.1.0\n";
  std::ofstream(dir / "values.yaml") << "replicas: 2\n";
  std::ofstream(dir / "values.schema.json")
      << R"({"$schema": "https://json-schema.org/draft-07/schema#", "type": "object",
            "properties": {"replicas": {"type": "integer", "minimum": 1}}})";
  std::ofstream(dir / "templates" / "cm.yaml") << "kind: ConfigMap\nn: {{ .Values.replicas }}\n";
  // 2 decodes as float64 2 and still counts as an integer, as for Helm's JSON Schema check.
  auto fine = templateChart(dir.string(), json::object());
  EXPECT_TRUE(fine.ok()) << fine.error().message;
  Value bad = json::object();
  ASSERT_TRUE(applySetValue(bad, "replicas=0", false).ok());
  auto refused = templateChart(dir.string(), bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("values don't meet the specifications of the schema(s)"), std::string::npos);
  EXPECT_NE(refused.error().message.find("replicas"), std::string::npos) << refused.error().message;
  std::filesystem::remove_all(dir);
}
}  // namespace
}  // namespace skiff::helm
