#include "gitops/application.h"
#include "gitops/definitions.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "api/custom_resource_definition.h"
#include "api/object.h"

namespace skiff::gitops {
namespace json = boost::json;

TEST(GitOpsApplication, ParsesArgoCdSpec) {
  auto app = parseApplication(json::parse(R"({"metadata":{"name":"guestbook","namespace":"argocd"},"spec":{
    "project":"default",
    "source":{"repoURL":"https://git.example/apps.git","targetRevision":"v1.2","path":"guestbook",
              "directory":{"recurse":true,"include":"*.yaml"},
              "helm":{"releaseName":"r","valueFiles":["v.yaml"],"values":"a: 1","valuesObject":{"b":2},"parameters":[{"name":"c","value":"3","forceString":true}]}},
    "destination":{"server":"https://kubernetes.default.svc","namespace":"prod"},
    "syncPolicy":{"automated":{"prune":true,"selfHeal":true},"syncOptions":["CreateNamespace=true"]},
    "revisionHistoryLimit":3},
    "operation":{"sync":{"revision":"abc","prune":true}}})"));
  ASSERT_TRUE(app.ok()) << app.error().message;
  ASSERT_EQ(app->sources.size(), 1u);
  const Source& s = app->sources[0];
  EXPECT_EQ(s.targetRevision, "v1.2");
  EXPECT_TRUE(s.directory && s.directory->recurse);
  ASSERT_TRUE(s.helm);
  EXPECT_EQ(s.helm->parameters.size(), 1u);
  EXPECT_TRUE(s.helm->parameters[0].forceString);
  EXPECT_TRUE(s.helm->valuesObject.is_object());
  EXPECT_EQ(app->destinationNamespace, "prod");
  EXPECT_TRUE(app->syncPolicy.automated && app->syncPolicy.prune && app->syncPolicy.selfHeal && app->syncPolicy.createNamespace);
  EXPECT_EQ(app->revisionHistoryLimit, 3);
  ASSERT_TRUE(app->operation);
  EXPECT_EQ(app->operation->revision, "abc");
}

TEST(GitOpsApplication, DefaultsAndRefusals) {
  auto app = parseApplication(json::parse(R"({"metadata":{"name":"a"},"spec":{"source":{"repoURL":"r"},"destination":{}}})"));
  ASSERT_TRUE(app.ok());
  EXPECT_EQ(app->sources[0].targetRevision, "HEAD");
  EXPECT_FALSE(app->syncPolicy.automated);
  auto disabled = parseApplication(json::parse(R"({"metadata":{"name":"a"},"spec":{"source":{"repoURL":"r"},"syncPolicy":{"automated":{"enabled":false}}}})"));
  ASSERT_TRUE(disabled.ok());
  EXPECT_FALSE(disabled->syncPolicy.automated);
  EXPECT_NE(parseApplication(json::parse(R"({"spec":{}})")).error().message.find("spec.source"), std::string::npos);
  EXPECT_NE(parseApplication(json::parse(R"({"spec":{"source":{"repoURL":"r"},"destination":{"server":"https://other:6443"}}})")).error().message.find("in-cluster"),
            std::string::npos);
  EXPECT_FALSE(parseApplication(json::parse(R"({"spec":{"source":{"path":"x"}}})")).ok());
  EXPECT_FALSE(parseApplication(json::parse(R"({"spec":{"source":{"repoURL":"r","path":"../x"}}})")).ok());
  auto multi = parseApplication(json::parse(R"({"spec":{"sources":[{"repoURL":"r","ref":"values"},{"repoURL":"r","path":"a"},{"repoURL":"s","path":"b"}]}})"));
  ASSERT_TRUE(multi.ok());
  EXPECT_EQ(multi->sources.size(), 2u);  // the ref-only source lends files, renders nothing
}

TEST(GitOpsDefinitions, BundledDefinitionsAreValidStructuralCrds) {
  auto defs = bundledDefinitions();
  ASSERT_EQ(defs.size(), 2u);
  EXPECT_EQ(api::stringAt(defs[0], "metadata.name"), "applications.argoproj.io");
  EXPECT_EQ(api::stringAt(defs[0], "spec.names.kind"), "Application");
  EXPECT_EQ(api::stringAt(defs[1], "spec.names.kind"), "ApplicationSet");
  for (auto d : defs) {
    api::defaultCustomResourceDefinition(d);
    auto causes = api::validateCustomResourceDefinition(d);
    EXPECT_TRUE(causes.empty()) << api::stringAt(d, "metadata.name") << ": " << (causes.empty() ? "" : causes[0].field + " " + causes[0].message);
    auto types = api::customResourceTypes(d);
    ASSERT_TRUE(types.ok());
    EXPECT_TRUE(types->versions[0].namespaced);
  }
  // The Application has no status subresource, as Argo CD's: status is written with the object.
  EXPECT_EQ(api::valueAt(defs[0], "spec.versions")->as_array()[0].as_object().at("subresources"), json::object());
}

}  // namespace skiff::gitops
