// Field management and server-side apply against the rules Kubernetes documents
// (reference/using-api/server-side-apply): ownership moves with updates, apply conflicts,
// forcing, shared ownership, removal of fields an applier drops, keyed lists and sets.
#include "api/field_manager.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "api/custom_resource_definition.h"
#include "api/object.h"

namespace skiff::api {
namespace {
namespace json = boost::json;

const ResourceType& deployments() { return *findByKind("apps/v1", "Deployment"); }
const ResourceType& configMaps() { return *findByKind("v1", "ConfigMap"); }

ManagedWrite by(const std::string& manager) { return {manager, "v1", "", "2026-01-01T00:00:00Z"}; }

// manager -> fieldsV1, for compact expectations.
std::map<std::string, std::string> owners(const json::value& object) {
  std::map<std::string, std::string> out;
  if (const json::value* mf = valueAt(object, "metadata.managedFields"); mf && mf->is_array())
    for (const auto& e : mf->get_array())
      out[stringAt(e, "manager") + "/" + stringAt(e, "operation")] = json::serialize(e.at("fieldsV1"));
  return out;
}

TEST(FieldManager, UpdatesMoveOwnershipOfWhatTheyChange) {
  json::value cm = json::parse(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","uid":"u","labels":{"a":"1"}},"data":{"x":"1","y":"2"}})");
  metadataOf(cm)["managedFields"] = managedFieldsAfterUpdate(configMaps(), nullptr, cm, by("creator"));
  EXPECT_EQ(owners(cm), (std::map<std::string, std::string>{
                            {"creator/Update", R"({"f:data":{"f:x":{},"f:y":{}},"f:metadata":{"f:labels":{"f:a":{}}}})"}}));
  json::value next = cm;
  next.at("data").as_object()["y"] = "3";
  metadataOf(next)["managedFields"] = managedFieldsAfterUpdate(configMaps(), &cm, next, by("editor"));
  EXPECT_EQ(owners(next), (std::map<std::string, std::string>{{"creator/Update", R"({"f:data":{"f:x":{}},"f:metadata":{"f:labels":{"f:a":{}}}})"},
                                                              {"editor/Update", R"({"f:data":{"f:y":{}}})"}}));
  // A write that changes nothing leaves ownership (and its times) alone.
  json::value same = next;
  EXPECT_EQ(managedFieldsAfterUpdate(configMaps(), &next, same, by("third")), *valueAt(next, "metadata.managedFields"));
}

// A create owns every field without looking each one up; it must own exactly what an update
// from an empty object would: keyed-list items, server metadata and status left out.
TEST(FieldManager, ACreateOwnsWhatAnUpdateFromNothingWould) {
  json::value d = json::parse(R"({"apiVersion":"apps/v1","kind":"Deployment",
    "metadata":{"name":"web","namespace":"ns","uid":"u","resourceVersion":"7","generation":1,"labels":{"app":"web"},"annotations":{}},
    "spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},
      "spec":{"containers":[{"name":"a","image":"x","ports":[{"containerPort":80,"protocol":"TCP"}]},{"name":"b","image":"y","args":["1","2"]}]}}},
    "status":{"replicas":2}})");
  json::value empty = json::parse(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"ns"}})");
  json::value created = managedFieldsAfterUpdate(deployments(), nullptr, d, by("m"));
  EXPECT_EQ(created, managedFieldsAfterUpdate(deployments(), &empty, d, by("m")));
  std::string fields = json::serialize(created.at(0).at("fieldsV1"));
  EXPECT_NE(fields.find(R"("k:{\"name\":\"a\"}":{".":{})"), std::string::npos) << fields;
  const json::object& top = created.at(0).at("fieldsV1").as_object();
  EXPECT_FALSE(top.contains("f:status")) << fields;
  EXPECT_FALSE(top.contains("f:apiVersion")) << fields;
  EXPECT_EQ(json::serialize(top.at("f:metadata")), R"({"f:annotations":{},"f:labels":{"f:app":{}}})");
}

TEST(FieldManager, ApplyConflictsForceAndSharing) {
  json::value applied = json::parse(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"x":"1","y":"2"}})");
  auto live = applyConfiguration(configMaps(), nullptr, applied, by("alice"), false);
  ASSERT_TRUE(live);
  // bob changes x by an update: he owns it now.
  json::value edited = *live;
  edited.at("data").as_object()["x"] = "9";
  metadataOf(edited)["managedFields"] = managedFieldsAfterUpdate(configMaps(), &*live, edited, by("bob"));
  // alice applies x=1 again: a conflict naming bob and the field.
  auto conflict = applyConfiguration(configMaps(), &edited, applied, by("alice"), false);
  ASSERT_FALSE(conflict);
  EXPECT_EQ(conflict.error().code, 409);
  EXPECT_EQ(conflict.error().message, "Apply failed with 1 conflict: conflict with \"bob\" using v1: .data.x");
  ASSERT_EQ(conflict.error().causes.size(), 1u);
  EXPECT_EQ(conflict.error().causes[0].reason, "FieldManagerConflict");
  EXPECT_EQ(conflict.error().causes[0].field, ".data.x");
  // Forced: the value is alice's and bob owns nothing any more.
  auto forced = applyConfiguration(configMaps(), &edited, applied, by("alice"), true);
  ASSERT_TRUE(forced);
  EXPECT_EQ(stringAt(*forced, "data.x"), "1");
  EXPECT_EQ(owners(*forced), (std::map<std::string, std::string>{{"alice/Apply", R"({"f:data":{"f:x":{},"f:y":{}}})"}}));
  // carol applies the same value of y: no conflict, both own it.
  auto shared = applyConfiguration(configMaps(), &*forced,
                                   json::parse(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"y":"2"}})"), by("carol"), false);
  ASSERT_TRUE(shared);
  EXPECT_EQ(owners(*shared)["carol/Apply"], R"({"f:data":{"f:y":{}}})");
  // alice drops y: carol still owns it, so it stays; alice drops x: nobody else owns it, it goes.
  auto dropped = applyConfiguration(configMaps(), &*shared, json::parse(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}})"),
                                    by("alice"), false);
  ASSERT_TRUE(dropped);
  EXPECT_EQ(json::serialize(dropped->at("data")), R"({"y":"2"})");
  // Applying what is already there changes nothing at all.
  auto again = applyConfiguration(configMaps(), &*dropped, json::parse(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}})"),
                                  by("alice"), false);
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *dropped);
}

TEST(FieldManager, KeyedListsMergeByKeyAndDropOnlyTheApplierItems) {
  auto deployment = [](std::string_view containers) {
    return json::parse(std::string(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"template":{"spec":{"containers":)") +
                       std::string(containers) + "}}}}");
  };
  auto live = applyConfiguration(deployments(), nullptr, deployment(R"([{"name":"web","image":"a:1"}])"), by("app"), false);
  ASSERT_TRUE(live);
  // A sidecar injector adds its container by apply: merged by name, not replacing the list.
  auto both = applyConfiguration(deployments(), &*live, deployment(R"([{"name":"proxy","image":"p:1"}])"), by("injector"), false);
  ASSERT_TRUE(both);
  EXPECT_EQ(json::serialize(*valueAt(*both, "spec.template.spec.containers")),
            R"([{"name":"web","image":"a:1"},{"name":"proxy","image":"p:1"}])");
  EXPECT_EQ(owners(*both)["injector/Apply"], R"({"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"proxy\"}":{".":{},"f:image":{},"f:name":{}}}}}}})");
  // The app changes its image and keeps the sidecar; a conflict names the item by its key.
  auto bumped = applyConfiguration(deployments(), &*both, deployment(R"([{"name":"web","image":"a:2"}])"), by("app"), false);
  ASSERT_TRUE(bumped);
  EXPECT_EQ(json::serialize(*valueAt(*bumped, "spec.template.spec.containers")),
            R"([{"name":"web","image":"a:2"},{"name":"proxy","image":"p:1"}])");
  auto clash = applyConfiguration(deployments(), &*bumped, deployment(R"([{"name":"proxy","image":"p:2"}])"), by("app"), false);
  ASSERT_FALSE(clash);
  EXPECT_EQ(clash.error().causes.at(0).field, ".spec.template.spec.containers[name=\"proxy\"].image");
  // The injector stops applying its container: it goes, the app's stays.
  auto removed = applyConfiguration(deployments(), &*bumped, deployment("[]"), by("injector"), false);
  ASSERT_TRUE(removed);
  EXPECT_EQ(json::serialize(*valueAt(*removed, "spec.template.spec.containers")), R"([{"name":"web","image":"a:2"}])");
}

TEST(FieldManager, CustomKindsFollowTheirListTypes) {
  json::value crd = json::parse(R"({"metadata":{"name":"ts.example.com"},"spec":{"group":"example.com","scope":"Namespaced",
    "names":{"plural":"ts","kind":"T"},"versions":[{"name":"v1","served":true,"storage":true,"schema":{"openAPIV3Schema":{"type":"object",
    "properties":{"spec":{"type":"object","properties":{
      "ports":{"type":"array","x-kubernetes-list-type":"map","x-kubernetes-list-map-keys":["port"],"items":{"type":"object","properties":{"port":{"type":"integer"},"name":{"type":"string"}}}},
      "tags":{"type":"array","x-kubernetes-list-type":"set","items":{"type":"string"}},
      "args":{"type":"array","items":{"type":"string"}}}}}}}}]}})");
  auto types = customResourceTypes(crd);
  ASSERT_TRUE(types) << types.error().message;
  const ResourceType& t = types->versions[0];
  auto obj = [](std::string_view spec) { return json::parse(std::string(R"({"apiVersion":"example.com/v1","kind":"T","metadata":{"name":"x"},"spec":)") + std::string(spec) + "}"); };
  auto a = applyConfiguration(t, nullptr, obj(R"({"ports":[{"port":80,"name":"http"}],"tags":["a"],"args":["x"]})"), by("one"), false);
  ASSERT_TRUE(a);
  auto b = applyConfiguration(t, &*a, obj(R"({"ports":[{"port":443}],"tags":["b"]})"), by("two"), false);
  ASSERT_TRUE(b);
  EXPECT_EQ(json::serialize(b->at("spec")), R"({"ports":[{"port":80,"name":"http"},{"port":443}],"tags":["a","b"],"args":["x"]})");
  // An atomic list has one owner: another manager's different value conflicts.
  auto c = applyConfiguration(t, &*b, obj(R"({"args":["y"]})"), by("two"), false);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().causes.at(0).field, ".spec.args");
}

}  // namespace
}  // namespace skiff::api
