#include "api/codec.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace skiff::api {
namespace json = boost::json;

TEST(Codec, YamlScalarsFollowTheCoreSchema) {
  auto docs = decodeManifests("a: 1\nb: \"1\"\nc: true\nd: 'true'\ne: null\nf: 1.5\ng: yes\nh: ~\ni: 0x1F\nj: web-1\n");
  ASSERT_TRUE(docs.ok()) << docs.error().message;
  const auto& o = (*docs)[0].get_object();
  EXPECT_EQ(o.at("a"), json::value(1));
  EXPECT_EQ(o.at("b"), json::value("1"));
  EXPECT_EQ(o.at("c"), json::value(true));
  EXPECT_EQ(o.at("d"), json::value("true"));
  EXPECT_TRUE(o.at("e").is_null());
  EXPECT_DOUBLE_EQ(o.at("f").as_double(), 1.5);
  EXPECT_EQ(o.at("g"), json::value("yes"));  // YAML 1.2: not a boolean
  EXPECT_TRUE(o.at("h").is_null());
  EXPECT_EQ(o.at("i"), json::value(31));
  EXPECT_EQ(o.at("j"), json::value("web-1"));
}

TEST(Codec, MultiDocumentStreamsSkipEmptyDocumentsAndExpandLists) {
  auto docs = decodeManifests(
      "---\nkind: A\n---\n---\n# only a comment\n---\nkind: List\napiVersion: v1\nitems:\n- kind: B\n- kind: C\n");
  ASSERT_TRUE(docs.ok());
  ASSERT_EQ(docs->size(), 3u);
  EXPECT_EQ((*docs)[0].at("kind"), json::value("A"));
  EXPECT_EQ((*docs)[2].at("kind"), json::value("C"));
}

TEST(Codec, JsonStreamsAreAccepted) {
  auto docs = decodeManifests(R"({"kind":"A"} {"kind":"B"})");
  ASSERT_TRUE(docs.ok()) << docs.error().message;
  EXPECT_EQ(docs->size(), 2u);
}

TEST(Codec, BadYamlNamesTheLine) {
  auto docs = decodeManifests("a: 1\nb: [1, 2\nc: 3\n");
  ASSERT_FALSE(docs.ok());
  EXPECT_EQ(docs.error().code, 400);
  EXPECT_NE(docs.error().message.find("line"), std::string::npos);
}

TEST(Codec, BadJsonIsAnError) {
  EXPECT_FALSE(decodeJson("{\"a\":").ok());
  EXPECT_FALSE(decodeManifests("{\"a\": [}").ok());
}

TEST(Codec, DeepNestingIsRefused) {
  std::string deep(500, '[');
  EXPECT_FALSE(decodeJson(deep).ok());
  std::string yaml;
  for (int i = 0; i < 200; ++i) yaml += std::string(size_t(i) * 2, ' ') + "k:\n";
  EXPECT_FALSE(decodeManifests(yaml).ok());
}

TEST(Codec, AliasBombsAreRefused) {
  // Found by fuzz_manifest: each level doubles the expansion.
  std::string yaml = "a0: &a0 [x, x]\n";
  for (int i = 1; i < 40; ++i)
    yaml += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [*a" + std::to_string(i - 1) + ", *a" + std::to_string(i - 1) + "]\n";
  auto docs = decodeManifests(yaml);
  ASSERT_FALSE(docs.ok());
  EXPECT_NE(docs.error().message.find("too many nodes"), std::string::npos);
  auto small = decodeManifests("base: &b {x: 1}\nuse: *b\n");  // ordinary aliases still work
  ASSERT_TRUE(small.ok());
  EXPECT_EQ((*small)[0].at("use"), (*small)[0].at("base"));
}

TEST(Codec, YamlRoundTripsThroughOurEmitter) {
  json::value v = json::parse(R"({"metadata":{"name":"x","labels":{"a":"true","b":"123","c":"yes"},
      "creationTimestamp":"2026-01-01T00:00:00Z"},"spec":{"list":[{"a":1,"b":[1,2]},{"c":{}}],"empty":[],
      "s":"line1\nline2","colon":"a: b","dash":"-x","n":null,"f":2.5}})");
  std::string yaml = toYaml(v);
  auto back = decodeManifests(yaml);
  ASSERT_TRUE(back.ok()) << back.error().message << "\n" << yaml;
  EXPECT_EQ((*back)[0], v) << yaml;
}

// go-yaml (kubectl -o yaml, Helm's toYaml/AsConfig) prints multi-line strings as literal blocks.
TEST(Codec, MultiLineStringsPrintAsLiteralBlocks) {
  json::value v = json::parse(R"({"a":"x\ny\n","b":"x\n\ny","c":["p\nq\n\n"],"d":"trailing \nspace"})");
  EXPECT_EQ(toYaml(v), "a: |\n  x\n  y\nb: |-\n  x\n\n  y\nc:\n- |+\n  p\n  q\n\nd: \"trailing \\nspace\"\n");
  auto back = decodeManifests(toYaml(v));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ((*back)[0], v);
}

TEST(Codec, PrettyJsonParsesBack) {
  json::value v = json::parse(R"({"a":[1,{"b":"c"}],"d":{}})");
  EXPECT_EQ(json::parse(toPrettyJson(v)), v);
}

// kubectl reads YAML through sigs.k8s.io/yaml (go-yaml v2, YAML 1.1 integers): `defaultMode: 0400`
// reaches the API server as 256, not 400; a file mode read as decimal 400 is 0620.
TEST(Codec, YamlIntegersAreReadAsKubectlReadsThem) {
  auto docs = decodeManifests(
      "defaultMode: 0400\nmode: 0o644\nupper: 0O17\nhex: 0X1f\nneg: -0x10\nbin: 0b101\nnegbin: -0b101\n"
      "under: 1_000\nzero: 0\nzeros: 00\nplus: +0400\neight: 08\nfloat: 1_0.5\nbig: 18446744073709551615\n"
      "huge: 99999999999999999999\nmin: -9223372036854775808\nbare: 0x\nquoted: \"0400\"\nword: 0400a\n");
  ASSERT_TRUE(docs.ok()) << docs.error().message;
  const auto& o = (*docs)[0].get_object();
  EXPECT_EQ(o.at("defaultMode"), json::value(256));
  EXPECT_EQ(o.at("mode"), json::value(420));
  EXPECT_EQ(o.at("upper"), json::value(15));
  EXPECT_EQ(o.at("hex"), json::value(31));
  EXPECT_EQ(o.at("neg"), json::value(-16));
  EXPECT_EQ(o.at("bin"), json::value(5));
  EXPECT_EQ(o.at("negbin"), json::value(-5));
  EXPECT_EQ(o.at("under"), json::value(1000));
  EXPECT_EQ(o.at("zero"), json::value(0));
  EXPECT_EQ(o.at("zeros"), json::value(0));
  EXPECT_EQ(o.at("plus"), json::value(256));
  EXPECT_DOUBLE_EQ(o.at("eight").as_double(), 8.0);  // not octal, so go-yaml's float
  EXPECT_DOUBLE_EQ(o.at("float").as_double(), 10.5);
  EXPECT_EQ(o.at("big"), json::value(uint64_t(18446744073709551615u)));
  EXPECT_TRUE(o.at("huge").is_double());
  EXPECT_EQ(o.at("min"), json::value(INT64_MIN));
  EXPECT_EQ(o.at("bare"), json::value("0x"));
  EXPECT_EQ(o.at("quoted"), json::value("0400"));
  EXPECT_EQ(o.at("word"), json::value("0400a"));
}

// Every short string of number-like characters decodes without failing, and a string value
// written by our emitter reads back as the same string (it is quoted when it would read as a number).
TEST(Codec, NumberLikeStringsNeverFailAndRoundTrip) {
  const std::string alphabet = "0178xXoObB_+-.eE";
  uint32_t state = 12345;
  for (int i = 0; i < 20000; ++i) {
    std::string s;
    state = state * 1103515245u + 12345u;
    for (size_t n = 1 + (state >> 16) % 8; n > 0; --n) {
      state = state * 1103515245u + 12345u;
      s += alphabet[(state >> 16) % alphabet.size()];
    }
    auto plain = decodeManifests("a: " + s + "\n");
    if (!plain.ok()) {  // some strings are not plain scalars at all ("- x", ". ")
      EXPECT_FALSE(plain.error().message.empty()) << s;
      continue;
    }
    json::value v = {{"a", s}};
    auto back = decodeManifests(toYaml(v));
    ASSERT_TRUE(back.ok()) << s << ": " << back.error().message;
    EXPECT_EQ((*back)[0], v) << s << "\n" << toYaml(v);
  }
}

}  // namespace skiff::api
