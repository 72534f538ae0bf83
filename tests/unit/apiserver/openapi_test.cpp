// OpenAPI documents carry the built-in kinds' schemas from the field table: each kind tagged with
// its group-version-kind, nested types as named definitions reachable from the document, merge
// keys as Kubernetes publishes them; v2 holds the same definitions.
#include "apiserver/openapi.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <functional>

#include "api/object.h"

namespace skiff::apiserver {
namespace {
namespace json = boost::json;

TEST(OpenApi, BuiltinKindsHaveSchemasWithTheirGroupVersionKind) {
  auto doc = openApiV3Document("apis/apps/v1", nullptr);
  ASSERT_TRUE(doc);
  const json::object& schemas = doc->at("components").at("schemas").as_object();
  ASSERT_TRUE(schemas.contains("io.k8s.api.apps.v1.Deployment"));
  const json::value& deploy = schemas.at("io.k8s.api.apps.v1.Deployment");
  EXPECT_EQ(api::stringAt(deploy.at("x-kubernetes-group-version-kind").at(0), "kind"), "Deployment");
  EXPECT_EQ(api::stringAt(deploy, "properties.spec.$ref"), "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec");
  EXPECT_EQ(api::stringAt(deploy, "properties.metadata.$ref"), "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta");
  // Every reference resolves inside the document (kubectl explain looks nowhere else).
  std::function<void(const json::value&)> refsResolve = [&](const json::value& v) {
    if (v.is_object()) {
      for (const auto& [k, x] : v.as_object()) {
        if (k == "$ref") {
          std::string name = std::string(x.as_string()).substr(std::string("#/components/schemas/").size());
          EXPECT_TRUE(schemas.contains(name)) << name;
        } else {
          refsResolve(x);
        }
      }
    } else if (v.is_array()) {
      for (const auto& x : v.as_array()) refsResolve(x);
    }
  };
  refsResolve(*doc);
}

TEST(OpenApi, ListsCarryTheirMergeKeys) {
  auto doc = openApiV3Document("api/v1", nullptr);
  ASSERT_TRUE(doc);
  const json::value& spec = doc->at("components").at("schemas").at("io.k8s.api.core.v1.PodSpec");
  EXPECT_EQ(api::stringAt(spec, "properties.containers.x-kubernetes-patch-merge-key"), "name");
  EXPECT_EQ(api::stringAt(spec, "properties.containers.x-kubernetes-list-type"), "map");
  EXPECT_EQ(api::stringAt(spec, "properties.containers.items.$ref"), "#/components/schemas/io.k8s.api.core.v1.Container");
}

TEST(OpenApi, VersionTwoHoldsTheSameDefinitions) {
  json::value doc = openApiV2Document(nullptr);
  EXPECT_EQ(api::stringAt(doc, "swagger"), "2.0");
  const json::object& defs = doc.at("definitions").as_object();
  EXPECT_TRUE(defs.contains("io.k8s.api.core.v1.Pod"));
  EXPECT_TRUE(defs.contains("io.k8s.api.batch.v1.CronJob"));
  EXPECT_EQ(api::stringAt(defs.at("io.k8s.api.core.v1.Pod"), "properties.spec.$ref"), "#/definitions/io.k8s.api.core.v1.PodSpec");
}

}  // namespace
}  // namespace skiff::apiserver
