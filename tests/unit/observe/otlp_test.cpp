#include "observe/otlp.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <mutex>

#include "http/http.h"

namespace skiff::observe {
namespace {

TEST(Traceparent, ParsesOnlyValidHeaders) {
  auto t = parseTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->traceId, "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(t->parentId, "b7ad6b7169203331");
  EXPECT_EQ(t->flags, "01");
  EXPECT_FALSE(parseTraceparent("00-00000000000000000000000000000000-b7ad6b7169203331-01"));
  EXPECT_FALSE(parseTraceparent("00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01"));
  EXPECT_FALSE(parseTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331"));
  EXPECT_EQ(randomHexId(16).size(), 32u);
  EXPECT_NE(randomHexId(8), randomHexId(8));
}

TEST(SpanExporter, PostsOtlpJsonToTheCollector) {
  std::mutex m;
  std::vector<std::string> bodies;
  std::string path;
  auto server = http::listen({}, [&](http::Exchange& ex) {
    std::lock_guard lock(m);
    bodies.push_back(ex.request().body);
    path = ex.request().path;
    ex.respond({200, "application/json", {}, "{}"});
  });
  ASSERT_TRUE(server);
  auto exporter = SpanExporter::create("http://127.0.0.1:" + std::to_string((*server)->port()), "skiff-test");
  ASSERT_TRUE(exporter);
  Span s;
  s.traceId = "0af7651916cd43dd8448eb211c80319c";
  s.spanId = "00f067aa0ba902b7";
  s.parentSpanId = "b7ad6b7169203331";
  s.name = "GET shop/front/0";
  s.startUnixNanos = 1000;
  s.endUnixNanos = 2000;
  s.error = true;
  s.attributes = {{"url.path", "/cart"}};
  s.intAttributes = {{"http.response.status_code", 503}};
  (*exporter)->record(s);
  (*exporter)->flush();
  std::lock_guard lock(m);
  ASSERT_EQ(bodies.size(), 1u);
  EXPECT_EQ(path, "/v1/traces");
  auto body = boost::json::parse(bodies[0]);
  EXPECT_EQ(body.at_pointer("/resourceSpans/0/resource/attributes/0/value/stringValue"), "skiff-test");
  const auto& span = body.at_pointer("/resourceSpans/0/scopeSpans/0/spans/0");
  EXPECT_EQ(span.at("traceId"), "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(span.at("parentSpanId"), "b7ad6b7169203331");
  EXPECT_EQ(span.at("startTimeUnixNano"), "1000");
  EXPECT_EQ(span.at("status").at("code"), 2);
  EXPECT_EQ(span.at_pointer("/attributes/1/value/intValue"), "503");
}

TEST(SpanExporter, RefusesWhatItCannotReach) {
  EXPECT_FALSE(SpanExporter::create("https://collector:4318", "x"));
  EXPECT_FALSE(SpanExporter::create("http://collector:notaport", "x"));
}

}  // namespace
}  // namespace skiff::observe
