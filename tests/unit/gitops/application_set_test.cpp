#include "gitops/application_set.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "api/object.h"

namespace skiff::gitops {
namespace json = boost::json;

TEST(GitOpsApplicationSet, ListGeneratorWithFastTemplate) {
  auto apps = generateApplications(json::parse(R"({"metadata":{"name":"shop","namespace":"argocd"},"spec":{
    "generators":[{"list":{"elements":[{"env":"dev","values":{"replicas":"1"}},{"env":"prod","values":{"replicas":"3"}}]}}],
    "template":{"metadata":{"name":"shop-{{env}}","labels":{"env":"{{ env }}"}},
                "spec":{"project":"default","source":{"repoURL":"r","path":"overlays/{{env}}"},
                        "destination":{"namespace":"shop-{{env}}"},"info":[{"name":"replicas","value":"{{values.replicas}}"},{"name":"x","value":"{{unknown}}"}]}}}})"));
  ASSERT_TRUE(apps.ok()) << apps.error().message;
  ASSERT_EQ(apps->size(), 2u);
  const json::value& prod = (*apps)[1];
  EXPECT_EQ(api::stringAt(prod, "metadata.name"), "shop-prod");
  EXPECT_EQ(api::stringAt(prod, "metadata.namespace"), "argocd");
  EXPECT_EQ(api::stringAt(prod, "metadata.labels.env"), "prod");
  EXPECT_EQ(api::stringAt(prod, "spec.source.path"), "overlays/prod");
  EXPECT_EQ(api::stringAt(prod, "spec.destination.namespace"), "shop-prod");
  EXPECT_EQ(api::stringAt(api::arrayAt(prod, "spec.info")[0], "value"), "3");
  EXPECT_EQ(api::stringAt(api::arrayAt(prod, "spec.info")[1], "value"), "{{unknown}}");  // left as written, as fasttemplate does
  EXPECT_EQ(api::stringAt(prod, "kind"), "Application");
}

TEST(GitOpsApplicationSet, GoTemplateWithSprig) {
  auto apps = generateApplications(json::parse(R"({"metadata":{"name":"s","namespace":"argocd"},"spec":{"goTemplate":true,
    "goTemplateOptions":["missingkey=error"],
    "generators":[{"list":{"elements":[{"env":"Dev"}]}}],
    "template":{"metadata":{"name":"app-{{ .env | lower }}"},"spec":{"source":{"repoURL":"r"}}}}})"));
  ASSERT_TRUE(apps.ok()) << apps.error().message;
  EXPECT_EQ(api::stringAt((*apps)[0], "metadata.name"), "app-dev");
  auto missing = generateApplications(json::parse(R"({"metadata":{"name":"s"},"spec":{"goTemplate":true,"goTemplateOptions":["missingkey=error"],
    "generators":[{"list":{"elements":[{"env":"dev"}]}}],"template":{"metadata":{"name":"{{ .nope }}"},"spec":{}}}})"));
  EXPECT_FALSE(missing.ok());
}

TEST(GitOpsApplicationSet, RefusalsNameTheProblem) {
  auto git = generateApplications(json::parse(R"({"spec":{"generators":[{"git":{"repoURL":"r"}}],"template":{"metadata":{"name":"x"}}}})"));
  ASSERT_FALSE(git.ok());
  EXPECT_NE(git.error().message.find("the git generator is not supported yet"), std::string::npos);
  auto dup = generateApplications(json::parse(R"({"spec":{"generators":[{"list":{"elements":[{"a":"1"},{"a":"2"}]}}],"template":{"metadata":{"name":"same"}}}})"));
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(dup.error().message.find("two elements generate the Application same"), std::string::npos);
  EXPECT_FALSE(generateApplications(json::parse(R"({"spec":{"template":{}}})")).ok());
}

}  // namespace skiff::gitops
