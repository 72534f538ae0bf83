#include "gitops/source_renderer.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>

#include "api/codec.h"
#include "api/object.h"

namespace skiff::gitops {
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

class GitOpsRender : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("skiff-render-" + std::to_string(::getpid()) + "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  void write(const std::string& rel, const std::string& text) {
    fs::create_directories((root_ / rel).parent_path());
    std::ofstream(root_ / rel) << text;
  }
  std::vector<std::string> names(const Rendering& r) {
    std::vector<std::string> out;
    for (const auto& o : r.objects) out.push_back(api::stringAt(o.object, "kind") + "/" + api::stringAt(o.object, "metadata.name"));
    return out;
  }
  fs::path root_;
};

std::string configMap(const std::string& name) { return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + name + "}\n"; }

}  // namespace

TEST_F(GitOpsRender, DirectoryReadsManifestFilesOnly) {
  write("app/a.yaml", configMap("a") + "---\n" + configMap("a2"));
  write("app/b.json", R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b"}})");
  write("app/c.yml", configMap("c"));
  write("app/README.md", "not a manifest");
  write("app/sub/d.yaml", configMap("d"));
  Source s;
  s.path = "app";
  auto r = renderSource(root_, s, {"app", "ns"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->type, "Directory");
  EXPECT_EQ(names(*r), (std::vector<std::string>{"ConfigMap/a", "ConfigMap/a2", "ConfigMap/b", "ConfigMap/c"}));
  EXPECT_TRUE(r->errors.empty());
}

TEST_F(GitOpsRender, DirectoryRecurseIncludeExclude) {
  write("app/a.yaml", configMap("a"));
  write("app/sub/d.yaml", configMap("d"));
  write("app/sub/skip.yaml", configMap("skip"));
  write("app/other.json", R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"other"}})");
  Source s;
  s.path = "app";
  s.directory = DirectorySource{true, "{*.yaml,*.yml}", "*skip*"};
  auto r = renderSource(root_, s, {"app", "ns"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(names(*r), (std::vector<std::string>{"ConfigMap/a", "ConfigMap/d"}));
}

TEST_F(GitOpsRender, BadManifestIsReportedAndTheRestKept) {
  write("app/good.yaml", configMap("good"));
  write("app/broken.yaml", "kind: [unclosed\n");
  write("app/nameless.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n");
  Source s;
  s.path = "app";
  auto r = renderSource(root_, s, {"app", "ns"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(names(*r), (std::vector<std::string>{"ConfigMap/good"}));
  ASSERT_EQ(r->errors.size(), 2u);
  EXPECT_NE(r->errors[0].find("app/broken.yaml"), std::string::npos);
  EXPECT_NE(r->errors[1].find("metadata.name is required"), std::string::npos);
}

TEST_F(GitOpsRender, PathMustExistAndStayInside) {
  Source s;
  s.path = "nowhere";
  auto r = renderSource(root_, s, {"app", "ns"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("app path does not exist: nowhere"), std::string::npos);
  s.path = "../etc";
  EXPECT_FALSE(renderSource(root_, s, {"app", "ns"}).ok());
}

TEST_F(GitOpsRender, HelmValuesInArgoCdOrder) {
  write("chart/Chart.yaml", "apiVersion: v2\nname: web\nversion: 0.1.0\n");
  write("chart/values.yaml", "a: chart\nb: chart\nc: chart\nd: chart\n");
  write("chart/values-prod.yaml", "a: file\nb: file\nc: file\n");
  write("chart/templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-{{ .Release.Namespace }}\ndata:\n"
        "  a: {{ .Values.a | quote }}\n  b: {{ .Values.b | quote }}\n  c: {{ .Values.c | quote }}\n  d: {{ .Values.d | quote }}\n");
  Source s;
  s.path = "chart";
  HelmSource h;
  h.valueFiles = {"values-prod.yaml"};
  h.values = "b: values\nc: values\n";
  h.parameters = {{"c", "parameter", false}};
  s.helm = h;
  auto r = renderSource(root_, s, {"myapp", "prod"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->type, "Helm");
  ASSERT_EQ(r->objects.size(), 1u);
  const json::value& cm = r->objects[0].object;
  EXPECT_EQ(api::stringAt(cm, "metadata.name"), "myapp-prod");  // release name defaults to the Application's
  EXPECT_EQ(api::stringAt(cm, "data.a"), "file");
  EXPECT_EQ(api::stringAt(cm, "data.b"), "values");
  EXPECT_EQ(api::stringAt(cm, "data.c"), "parameter");
  EXPECT_EQ(api::stringAt(cm, "data.d"), "chart");
}

TEST_F(GitOpsRender, HelmValuesFileThatIsNotYamlIsAnError) {
  write("chart/Chart.yaml", "apiVersion: v2\nname: web\nversion: 0.1.0\n");
  write("chart/bad.yaml", "a: [unclosed\n");
  Source s;
  s.path = "chart";
  HelmSource h;
  h.valueFiles = {"bad.yaml"};
  s.helm = h;
  auto r = renderSource(root_, s, {"x", "ns"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("values file bad.yaml is not YAML"), std::string::npos);
  h.valueFiles = {"../../outside.yaml"};
  s.helm = h;
  EXPECT_FALSE(renderSource(root_, s, {"x", "ns"}).ok());
}

TEST_F(GitOpsRender, KustomizeOptionsEditTheKustomization) {
  write("base/kustomization.yaml", "resources: [deploy.yaml]\n");
  write("base/deploy.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  template:\n    spec:\n      containers: [{name: api, image: busybox:1.35}]\n");
  write("overlay/kustomization.yaml", "resources: [../base]\nnameSuffix: -prod\n");
  Source s;
  s.path = "overlay";
  KustomizeSource k;
  k.namePrefix = "shop-";
  k.images = {"busybox=registry.local/busybox:1.34"};
  s.kustomize = k;
  auto r = renderSource(root_, s, {"x", "ns"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->type, "Kustomize");
  ASSERT_EQ(r->objects.size(), 1u);
  EXPECT_EQ(api::stringAt(r->objects[0].object, "metadata.name"), "shop-api-prod");
  EXPECT_EQ(api::stringAt(api::arrayAt(r->objects[0].object, "spec.template.spec.containers")[0], "image"), "registry.local/busybox:1.34");
}

TEST_F(GitOpsRender, KustomizationDetectedWithoutOptions) {
  write("k/kustomization.yaml", "resources: [cm.yaml]\nnamePrefix: p-\n");
  write("k/cm.yaml", configMap("c"));
  Source s;
  s.path = "k";
  auto r = renderSource(root_, s, {"x", "ns"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(names(*r), (std::vector<std::string>{"ConfigMap/p-c"}));
}

TEST(GitOpsPlaceObject, NamespaceAndTrackingLabel) {
  Application app;
  app.name = "guestbook";
  app.destinationNamespace = "prod";
  json::value cm = json::parse(R"({"kind":"ConfigMap","metadata":{"name":"a"}})");
  placeObject(cm, true, app);
  EXPECT_EQ(api::stringAt(cm, "metadata.namespace"), "prod");
  EXPECT_EQ(api::valueAt(cm, "metadata.labels")->at("app.kubernetes.io/instance"), "guestbook");
  json::value ns = json::parse(R"({"kind":"Namespace","metadata":{"name":"x","namespace":"stray"}})");
  placeObject(ns, false, app);
  EXPECT_EQ(api::valueAt(ns, "metadata.namespace"), nullptr);
  json::value own = json::parse(R"({"kind":"ConfigMap","metadata":{"name":"a","namespace":"mine"}})");
  placeObject(own, true, app);
  EXPECT_EQ(api::stringAt(own, "metadata.namespace"), "mine");
}

TEST(GitOpsGlob, BracesAndStars) {
  EXPECT_TRUE(matchesGlob("*.yaml", "sub/x.yaml"));
  EXPECT_TRUE(matchesGlob("{a.yaml,b.yaml}", "b.yaml"));
  EXPECT_FALSE(matchesGlob("{a.yaml,b.yaml}", "c.yaml"));
  EXPECT_TRUE(matchesGlob("config.json", "config.json"));
}

}  // namespace skiff::gitops
