// Structural schemas: what Kubernetes refuses as non-structural, and validation, pruning and
// defaulting as its documentation describes them.
#include "api/structural_schema.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "api/custom_resource_definition.h"

namespace skiff::api {
namespace {
namespace json = boost::json;

StructuralSchema compiled(std::string_view schema) {
  auto c = compileSchema(json::parse(schema), "schema");
  EXPECT_TRUE(c) << (c ? "" : c.error().message);
  return c ? *c->root : StructuralSchema{};
}

std::string causesOf(const StructuralSchema& s, std::string_view value) {
  std::string out;
  for (const auto& c : validateValue(s, json::parse(value))) out += c.field + ": " + c.message + "\n";
  return out;
}

TEST(StructuralSchema, RefusesWhatIsNotStructural) {
  struct Case {
    const char* schema;
    const char* expected;
  } cases[] = {
      {R"({"type":"object","properties":{"a":{}}})", "schema.properties[a].type: Required value: must not be empty for specified object fields"},
      {R"({"type":"object","properties":{"a":{"type":"array"}}})", "schema.properties[a].items: Required value: must be specified"},
      {R"({"type":"object","properties":{"a":{"type":"object","properties":{"b":{"type":"string"}},"additionalProperties":{"type":"string"}}}})",
       "additionalProperties and properties are mutual exclusive"},
      {R"({"type":"object","properties":{"a":{"type":"strin"}}})", "schema.properties[a].type: Unsupported value: \"strin\""},
      {R"({"type":"object","properties":{"a":{"type":"string","pattern":"(?i)abc"}}})", "cannot compile this pattern"},
      {R"({"type":"string"})", "must be object at the root"},
      {R"({"type":"object","properties":{"a":{"type":"array","items":{"type":"string"},"uniqueItems":true}}})", "use x-kubernetes-list-type: set"},
  };
  for (const auto& c : cases) {
    auto r = compileSchema(json::parse(c.schema), "schema");
    ASSERT_FALSE(r) << c.schema;
    EXPECT_NE(r.error().message.find(c.expected), std::string::npos) << r.error().message;
  }
  // Untyped is allowed where Kubernetes allows it.
  EXPECT_TRUE(compileSchema(json::parse(R"({"type":"object","properties":{"a":{"x-kubernetes-int-or-string":true},
      "b":{"x-kubernetes-preserve-unknown-fields":true},"c":{"type":"string","anyOf":[{"maxLength":3},{"pattern":"^x"}]}}})"), "s"));
}

TEST(StructuralSchema, ValidatesValues) {
  StructuralSchema s = compiled(R"({"type":"object","required":["name"],"properties":{
    "name":{"type":"string","minLength":2,"maxLength":5,"pattern":"^[a-z]+$"},
    "n":{"type":"integer","minimum":1,"maximum":10,"exclusiveMaximum":true,"multipleOf":2},
    "ratio":{"type":"number","minimum":0.5},
    "mode":{"type":"string","enum":["a","b"]},
    "port":{"x-kubernetes-int-or-string":true},
    "opt":{"type":"string","nullable":true},
    "when":{"type":"string","format":"date-time"},
    "ip":{"type":"string","format":"ipv4"},
    "tags":{"type":"array","maxItems":2,"x-kubernetes-list-type":"set","items":{"type":"string"}},
    "ports":{"type":"array","x-kubernetes-list-type":"map","x-kubernetes-list-map-keys":["port"],"items":{"type":"object","properties":{"port":{"type":"integer"}}}},
    "labels":{"type":"object","maxProperties":1,"additionalProperties":{"type":"string"}},
    "either":{"type":"string","oneOf":[{"pattern":"^a"},{"pattern":"b$"}]}}})");
  EXPECT_EQ(causesOf(s, R"({"name":"ok","n":4,"ratio":1,"mode":"a","port":"http","opt":null,"when":"2024-01-02T03:04:05Z",
                           "ip":"10.0.0.1","tags":["x","y"],"ports":[{"port":1},{"port":2}],"labels":{"a":"b"},"either":"ax"})"),
            "");
  EXPECT_EQ(causesOf(s, R"({})"), "name: Required value\n");
  EXPECT_EQ(causesOf(s, R"({"name":"toolongname"})"), "name: Too long: may not be longer than 5\n");
  EXPECT_EQ(causesOf(s, R"({"name":"a"})"), "name: Invalid value: \"a\": name in body should be at least 2 chars long\n");
  EXPECT_EQ(causesOf(s, R"({"name":"AB"})"), "name: Invalid value: \"AB\": name in body should match '^[a-z]+$'\n");
  EXPECT_EQ(causesOf(s, R"({"name":"ab","n":10})"), "n: Invalid value: 10: n in body should be less than 10\n");
  EXPECT_EQ(causesOf(s, R"({"name":"ab","n":0})"), "n: Invalid value: 0: n in body should be greater than or equal to 1\n");
  EXPECT_EQ(causesOf(s, R"({"name":"ab","n":3})"), "n: Invalid value: 3: n in body should be a multiple of 2\n");
  EXPECT_EQ(causesOf(s, R"({"name":"ab","n":"3"})"), "n: Invalid value: \"3\": n in body must be of type integer: \"string\"\n");
  EXPECT_EQ(causesOf(s, R"({"name":"ab","n":2.5})"), "n: Invalid value: 2.5: n in body must be of type integer: \"number\"\n");
  EXPECT_EQ(causesOf(s, R"({"name":"ab","ratio":0.25})"), "ratio: Invalid value: 0.25: ratio in body should be greater than or equal to 0.5\n");
  EXPECT_EQ(causesOf(s, R"({"name":"ab","mode":"c"})"), "mode: Unsupported value: \"c\": supported values: \"a\", \"b\"\n");
  EXPECT_EQ(causesOf(s, R"({"name":"ab","port":true})"), "port: Invalid value: true: port in body must be of type integer,string: \"boolean\"\n");
  EXPECT_EQ(causesOf(s, R"({"name":"ab","mode":null})"), "mode: Invalid value: null: mode in body must be of type string: \"null\"\n");
  EXPECT_EQ(causesOf(s, R"({"name":"ab","when":"yesterday"})"), "when: Invalid value: \"yesterday\": when in body must be of type date-time: \"yesterday\"\n");
  EXPECT_EQ(causesOf(s, R"({"name":"ab","ip":"10.0.0.300"})"), "ip: Invalid value: \"10.0.0.300\": ip in body must be of type ipv4: \"10.0.0.300\"\n");
  EXPECT_EQ(causesOf(s, R"({"name":"ab","tags":["x","x"]})"), "tags[1]: Duplicate value: \"x\"\n");
  EXPECT_EQ(causesOf(s, R"({"name":"ab","tags":["x","y","z"]})"), "tags: Too many: 3: must have at most 2 items\n");
  EXPECT_EQ(causesOf(s, R"({"name":"ab","ports":[{"port":1},{"port":1}]})"), "ports[1]: Duplicate value: {\"port\":1}\n");
  EXPECT_EQ(causesOf(s, R"({"name":"ab","labels":{"a":"b","c":"d"}})"), "labels: Too many: 2: must have at most 1 items\n");
  EXPECT_EQ(causesOf(s, R"({"name":"ab","labels":{"a":1}})"), "labels.a: Invalid value: 1: labels.a in body must be of type string: \"integer\"\n");
  EXPECT_EQ(causesOf(s, R"({"name":"ab","either":"ab"})"), "either: Invalid value: \"ab\": either in body must match exactly one schema in oneOf\n");
  // Several violations are all reported.
  EXPECT_EQ(causesOf(s, R"({"name":"a","mode":"c"})"),
            "name: Invalid value: \"a\": name in body should be at least 2 chars long\nmode: Unsupported value: \"c\": supported values: \"a\", \"b\"\n");
}

TEST(StructuralSchema, PrunesUnknownFieldsAndAppliesDefaults) {
  StructuralSchema s = compiled(R"({"type":"object","properties":{
    "spec":{"type":"object","properties":{
      "replicas":{"type":"integer","default":1},
      "policy":{"type":"object","default":{},"properties":{"mode":{"type":"string","default":"auto"}}},
      "items":{"type":"array","items":{"type":"object","properties":{"w":{"type":"integer","default":5}}}},
      "free":{"type":"object","x-kubernetes-preserve-unknown-fields":true},
      "sealed":{"type":"object"},
      "pod":{"type":"object","x-kubernetes-embedded-resource":true,"properties":{"spec":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}}}}}})");
  json::value v = json::parse(R"({"apiVersion":"x/v1","kind":"K","metadata":{"name":"a"},"junk":1,
    "spec":{"extra":true,"items":[{"q":1}],"free":{"any":{"thing":1}},"sealed":{"gone":1},
            "pod":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"x":1},"nope":2}}})");
  std::vector<std::string> pruned;
  pruneUnknown(s, v, pruned);
  std::sort(pruned.begin(), pruned.end());
  EXPECT_EQ(pruned, (std::vector<std::string>{"junk", "spec.extra", "spec.items[0].q", "spec.pod.nope", "spec.sealed.gone"}));
  applySchemaDefaults(s, v);
  EXPECT_EQ(v, json::parse(
            R"({"apiVersion":"x/v1","kind":"K","metadata":{"name":"a"},"spec":{"items":[{"w":5}],"free":{"any":{"thing":1}},"sealed":{},)"
            R"("pod":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"x":1}},"replicas":1,"policy":{"mode":"auto"}}})"))
      << json::serialize(v);
}

TEST(StructuralSchema, LongStringsAreNotMatchedAgainstPatterns) {
  StructuralSchema s = compiled(R"({"type":"object","properties":{"a":{"type":"string","pattern":"^(a|b)*$"}}})");
  std::string big(kMaxPatternSubject + 1, 'a');
  std::string causes = causesOf(s, "{\"a\":\"" + big + "\"}");
  EXPECT_NE(causes.find("longer than the 2048 bytes skiff matches"), std::string::npos) << causes;
  EXPECT_EQ(causesOf(s, "{\"a\":\"" + std::string(kMaxPatternSubject, 'a') + "\"}"), "");
}

TEST(StructuralSchema, JsonPaths) {
  json::value v = json::parse(R"({"spec":{"a":[{"b":"x"}]},"metadata":{"name":"n"}})");
  ASSERT_NE(valueAtJsonPath(v, ".spec.a[0].b"), nullptr);
  EXPECT_EQ(valueAtJsonPath(v, ".spec.a[0].b")->as_string(), "x");
  EXPECT_EQ(valueAtJsonPath(v, "{.metadata.name}")->as_string(), "n");
  EXPECT_EQ(valueAtJsonPath(v, ".spec.a[1].b"), nullptr);
  EXPECT_EQ(valueAtJsonPath(v, ".spec..a"), nullptr);
  EXPECT_EQ(valueAtJsonPath(v, "spec"), nullptr);
}

TEST(CustomResourceDefinition, ValidationAsKubernetes) {
  auto crd = [](std::string_view patch) {
    json::value v = json::parse(R"({"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
      "metadata":{"name":"foos.example.com"},"spec":{"group":"example.com","scope":"Namespaced",
      "names":{"plural":"foos","kind":"Foo"},"versions":[{"name":"v1","served":true,"storage":true,
      "schema":{"openAPIV3Schema":{"type":"object"}}}]}})");
    json::value p = json::parse(patch);
    for (auto& kv : p.as_object()) v.as_object()["spec"].as_object()[kv.key()] = kv.value();
    defaultCustomResourceDefinition(v);
    std::string out;
    for (const auto& c : validateCustomResourceDefinition(v)) out += c.field + ": " + c.message + "\n";
    return out;
  };
  EXPECT_EQ(crd("{}"), "");
  EXPECT_EQ(crd(R"({"group":"examplecom"})"),
            "spec.group: Invalid value: \"examplecom\": should be a domain with at least one dot\n"
            "metadata.name: Invalid value: \"foos.example.com\": must be spec.names.plural+\".\"+spec.group\n");
  EXPECT_EQ(crd(R"({"scope":"Global"})"), "spec.scope: Unsupported value: \"Global\": supported values: \"Cluster\", \"Namespaced\"\n");
  EXPECT_NE(crd(R"({"versions":[{"name":"v1","served":true,"storage":false,"schema":{"openAPIV3Schema":{"type":"object"}}}]})")
                .find("must have exactly one version marked as storage version"),
            std::string::npos);
  EXPECT_EQ(crd(R"({"versions":[{"name":"v1","served":true,"storage":true}]})"),
            "spec.versions[0].schema.openAPIV3Schema: Required value: schemas are required\n");
  EXPECT_NE(crd(R"({"conversion":{"strategy":"Webhook"}})").find("skiff does not call conversion webhooks"), std::string::npos);
  json::value defaulted = json::parse(R"({"spec":{"names":{"plural":"foos","kind":"Foo"}}})");
  defaultCustomResourceDefinition(defaulted);
  EXPECT_EQ(json::serialize(defaulted.at("spec")),
            R"({"names":{"plural":"foos","kind":"Foo","singular":"foo","listKind":"FooList"},"conversion":{"strategy":"None"}})");
}

}  // namespace
}  // namespace skiff::api
