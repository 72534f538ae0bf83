#include "api/patch.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace skiff::api {
namespace json = boost::json;

TEST(MergePatch, Rfc7386Examples) {
  json::value target = json::parse(R"({"a":"b","c":{"d":"e","f":"g"}})");
  json::value patch = json::parse(R"({"a":"z","c":{"f":null}})");
  EXPECT_EQ(applyMergePatch(target, patch), json::parse(R"({"a":"z","c":{"d":"e"}})"));
  EXPECT_EQ(applyMergePatch(json::parse(R"({"a":[1]})"), json::parse(R"({"a":[2,3]})")), json::parse(R"({"a":[2,3]})"));
}

TEST(MergePatch, CreateMergePatchInvertsApply) {
  json::value from = json::parse(R"({"a":1,"b":{"c":2,"d":3},"e":[1]})");
  json::value to = json::parse(R"({"a":1,"b":{"c":5},"f":true})");
  json::value p = createMergePatch(from, to);
  EXPECT_EQ(applyMergePatch(from, p), to);
  EXPECT_TRUE(createMergePatch(to, to).get_object().empty());
}

TEST(JsonPatch, AllOperations) {
  json::value doc = json::parse(R"({"a":{"b":[1,2,3]},"c":"x"})");
  json::value patch = json::parse(R"([
    {"op":"add","path":"/a/b/1","value":9},
    {"op":"remove","path":"/a/b/0"},
    {"op":"replace","path":"/c","value":"y"},
    {"op":"copy","from":"/c","path":"/d"},
    {"op":"move","from":"/d","path":"/e"},
    {"op":"test","path":"/e","value":"y"},
    {"op":"add","path":"/a/b/-","value":7},
    {"op":"add","path":"/k~1l","value":1}
  ])");
  auto r = applyJsonPatch(doc, patch);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, json::parse(R"({"a":{"b":[9,2,3,7]},"c":"y","e":"y","k/l":1})"));
}

TEST(JsonPatch, FailuresLeaveTheOriginalAlone) {
  json::value doc = json::parse(R"({"a":1})");
  EXPECT_FALSE(applyJsonPatch(doc, json::parse(R"([{"op":"remove","path":"/nope"}])")).ok());
  EXPECT_FALSE(applyJsonPatch(doc, json::parse(R"([{"op":"test","path":"/a","value":2}])")).ok());
  EXPECT_FALSE(applyJsonPatch(doc, json::parse(R"([{"op":"jump","path":"/a"}])")).ok());
  EXPECT_FALSE(applyJsonPatch(doc, json::parse(R"({"op":"add"})")).ok());
  EXPECT_EQ(doc, json::parse(R"({"a":1})"));
}

TEST(StrategicMergePatch, ContainersMergeByName) {
  const TypeRef* pod = schemaForKind("Pod");
  ASSERT_NE(pod, nullptr);
  json::value current = json::parse(R"({"spec":{"containers":[
      {"name":"a","image":"a:1","env":[{"name":"X","value":"1"}]},
      {"name":"b","image":"b:1"}]}})");
  json::value patch = json::parse(R"({"spec":{"containers":[
      {"name":"b","image":"b:2"},
      {"name":"a","env":[{"name":"Y","value":"2"}]},
      {"name":"c","image":"c:1"}]}})");
  auto r = applyStrategicMergePatch(current, patch, pod);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, json::parse(R"({"spec":{"containers":[
      {"name":"a","image":"a:1","env":[{"name":"X","value":"1"},{"name":"Y","value":"2"}]},
      {"name":"b","image":"b:2"},{"name":"c","image":"c:1"}]}})"));
}

TEST(StrategicMergePatch, Directives) {
  const TypeRef* pod = schemaForKind("Pod");
  json::value current = json::parse(R"({"metadata":{"labels":{"a":"1","b":"2"}},
      "spec":{"containers":[{"name":"a","image":"x"},{"name":"b","image":"y"}],"nodeSelector":{"k":"v"}}})");
  // $patch: delete on a list item, null deletes a map key, $setElementOrder reorders.
  json::value patch = json::parse(R"({"metadata":{"labels":{"a":null}},
      "spec":{"$setElementOrder/containers":[{"name":"b"},{"name":"a"}],
              "containers":[{"name":"a","$patch":"delete"}],
              "nodeSelector":{"$patch":"replace","z":"w"}}})");
  auto r = applyStrategicMergePatch(current, patch, pod);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, json::parse(R"({"metadata":{"labels":{"b":"2"}},
      "spec":{"containers":[{"name":"b","image":"y"}],"nodeSelector":{"z":"w"}}})"));
}

TEST(StrategicMergePatch, ListsWithoutMergeKeyAreReplaced) {
  const TypeRef* pod = schemaForKind("Pod");
  json::value current = json::parse(R"({"spec":{"containers":[{"name":"a","args":["1","2"]}]}})");
  json::value patch = json::parse(R"({"spec":{"containers":[{"name":"a","args":["3"]}]}})");
  auto r = applyStrategicMergePatch(current, patch, pod);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, json::parse(R"({"spec":{"containers":[{"name":"a","args":["3"]}]}})"));
}

TEST(StrategicMergePatch, RetainKeys) {
  json::value current = json::parse(R"({"spec":{"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":1}}}})");
  json::value patch = json::parse(R"({"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}})");
  auto r = applyStrategicMergePatch(current, patch, schemaForKind("Deployment"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, json::parse(R"({"spec":{"strategy":{"type":"Recreate"}}})"));
}

}  // namespace skiff::api
