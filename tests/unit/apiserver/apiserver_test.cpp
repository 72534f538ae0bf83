// The REST layer driven through an in-memory Exchange: routing, auth, Status bodies, watch
// streaming (resume, bookmarks, 410 after compaction) and tables, without sockets.
#include "apiserver/apiserver.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <mutex>
#include <sstream>
#include <thread>

#include "api/object.h"
#include "observe/metrics.h"
#include "store/sqlite/sqlite_store.h"

namespace skiff::apiserver {
namespace fs = std::filesystem;

class FakeStream final : public http::Stream {
 public:
  bool write(std::string_view chunk) override {
    data += chunk;
    return !closed;
  }
  bool clientGone() override { return closed; }
  std::string data;
  bool closed = false;
};

// What the HTTP server does with an event stream, by hand: chunks land in `data` (within the
// byte budget), ticks and the end are driven by the test.
class FakeEventStream final : public http::EventStream {
 public:
  explicit FakeEventStream(http::EventStreamOptions o) : options(std::move(o)) {}
  bool push(http::Chunk c) override {
    std::lock_guard lock(mutex);
    if (ended_) return false;
    chunks.push_back(c);
    if (queued + c->size() > options.maxQueuedBytes) {
      ended_ = true;
      if (options.overflowChunk) data += *options.overflowChunk();
      return false;
    }
    queued += c->size();
    data += *c;
    return true;
  }
  void end() override {
    std::lock_guard lock(mutex);
    ended_ = true;
  }
  bool ended() const override {
    std::lock_guard lock(mutex);
    return ended_;
  }
  std::string text() {
    std::lock_guard lock(mutex);
    return data;
  }
  http::EventStreamOptions options;
  mutable std::mutex mutex;
  std::string data;
  std::vector<http::Chunk> chunks;
  size_t queued = 0;
  bool ended_ = false;
};

class FakeExchange final : public http::Exchange {
 public:
  explicit FakeExchange(http::Request r) : request_(std::move(r)) {}
  std::shared_ptr<http::EventStream> startEventStream(int status, std::string, http::EventStreamOptions o) override {
    response.status = status;
    events = std::make_shared<FakeEventStream>(std::move(o));
    return events;
  }
  bool writeDirect(std::string_view chunk) override {
    std::lock_guard lock(events->mutex);
    events->data += chunk;
    return true;
  }
  // Plays the server's loop for a watch: ticks until the stream ends or `limit` passes, then
  // the end (as when the client leaves). Returns what the client would have read.
  std::string watchFor(std::chrono::milliseconds limit) {
    auto until = std::chrono::steady_clock::now() + limit;
    while (events && !events->ended() && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (events->options.onTick) events->options.onTick(*events);
    }
    finish();
    return events ? events->text() : "";
  }
  void finish() {
    if (events && events->options.onEnd && !endRan) {
      endRan = true;
      events->options.onEnd();
    }
  }
  std::shared_ptr<FakeEventStream> events;
  bool endRan = false;
  const http::Request& request() const override { return request_; }
  void respond(http::Response r) override { response = std::move(r); }
  http::Stream& startStream(int status, std::string, http::Headers) override {
    response.status = status;
    return stream;
  }
  Result<http::WebSocket*> upgradeToWebSocket(const std::vector<std::string>&) override {
    return Error::badRequest("not a WebSocket upgrade request");
  }
  http::Request request_;
  http::Response response;
  FakeStream stream;
};

class ApiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("skiff-api-" + std::to_string(::getpid()) + "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    store_ = std::move(*store::openSqliteStore({(dir_ / "store.db").string(), 50, 1024}));
    registry_ = std::make_unique<Registry>(*store_);
    ASSERT_TRUE(registry_->bootstrap().ok());
    ApiServerOptions o;
    o.token = "secret";
    o.bookmarkInterval = std::chrono::milliseconds(100);
    api_ = std::make_unique<ApiServer>(*registry_, o);
  }
  void TearDown() override {
    api_.reset();
    registry_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }
  http::Request request(std::string method, std::string path, std::string body = "",
                        std::multimap<std::string, std::string> query = {}) {
    http::Request r;
    r.method = std::move(method);
    r.path = r.target = std::move(path);
    r.query = std::move(query);
    r.body = std::move(body);
    r.headers["authorization"] = "Bearer secret";
    r.headers["content-type"] = "application/json";
    return r;
  }
  http::Response call(http::Request r) {
    FakeExchange ex(std::move(r));
    api_->handle(ex);
    return ex.response;
  }
  json::value body(const http::Response& r) { return json::parse(r.body); }

  fs::path dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<ApiServer> api_;
};

TEST_F(ApiServerTest, RequiresTheToken) {
  auto r = request("GET", "/api/v1/namespaces");
  r.headers.erase("authorization");
  auto resp = call(r);
  EXPECT_EQ(resp.status, 401);
  EXPECT_EQ(body(resp).at("reason"), json::value("Unauthorized"));
  r.headers.erase("authorization");
  EXPECT_EQ(call(request("GET", "/healthz")).status, 200);
}

TEST_F(ApiServerTest, DiscoveryAndVersion) {
  auto v = call(request("GET", "/version"));
  EXPECT_EQ(body(v).at("minor"), json::value("32"));
  auto core = body(call(request("GET", "/api/v1")));
  bool sawPodStatus = false;
  for (auto& r : core.at("resources").as_array()) sawPodStatus |= r.at("name") == "pods/status";
  EXPECT_TRUE(sawPodStatus);
  auto groups = body(call(request("GET", "/apis")));
  EXPECT_EQ(groups.at("kind"), json::value("APIGroupList"));
  EXPECT_EQ(call(request("GET", "/apis/nope.io")).status, 404);
  EXPECT_EQ(call(request("GET", "/api/v1/namespaces/default/gadgets")).status, 404);
}

TEST_F(ApiServerTest, CreateGetConflictAndStatusBodies) {
  auto created = call(request("POST", "/api/v1/namespaces/default/configmaps", R"({"metadata":{"name":"a"},"data":{"k":"v"}})"));
  ASSERT_EQ(created.status, 201);
  auto again = call(request("POST", "/api/v1/namespaces/default/configmaps", R"({"metadata":{"name":"a"}})"));
  EXPECT_EQ(again.status, 409);
  auto st = body(again);
  EXPECT_EQ(st.at("kind"), json::value("Status"));
  EXPECT_EQ(st.at("reason"), json::value("AlreadyExists"));
  auto invalid = call(request("POST", "/api/v1/namespaces/default/pods", R"({"metadata":{"name":"p"},"spec":{"containers":[{"name":"c"}]}})"));
  EXPECT_EQ(invalid.status, 422);
  EXPECT_EQ(body(invalid).at_pointer("/details/causes/0/field"), json::value("spec.containers[0].image"));
  auto malformed = call(request("POST", "/api/v1/namespaces/default/configmaps", "{nope"));
  EXPECT_EQ(malformed.status, 400);
  auto missing = call(request("GET", "/api/v1/namespaces/default/configmaps/zzz"));
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(body(missing).at("message"), json::value("configmaps \"zzz\" not found"));
  auto proto = request("POST", "/api/v1/namespaces/default/configmaps", "k8s\x00\x01");  // truncated
  proto.headers["content-type"] = "application/vnd.kubernetes.protobuf";
  EXPECT_EQ(call(proto).status, 400);
  auto cbor = request("POST", "/api/v1/namespaces/default/configmaps", "\xd9\xd9\xf7");
  cbor.headers["content-type"] = "application/cbor";
  EXPECT_EQ(call(cbor).status, 415);
  auto badPatch = request("PATCH", "/api/v1/namespaces/default/configmaps/a", "{}");
  badPatch.headers["content-type"] = "application/x-unknown-patch+json";
  EXPECT_EQ(call(badPatch).status, 415);
  auto anonymousApply = request("PATCH", "/api/v1/namespaces/default/configmaps/a", "{}");
  anonymousApply.headers["content-type"] = "application/apply-patch+yaml";
  EXPECT_EQ(call(anonymousApply).status, 400);  // server-side apply needs a fieldManager
}

TEST_F(ApiServerTest, ListSplicesStoredObjectsAndPaginates) {
  for (int i = 0; i < 5; ++i)
    ASSERT_EQ(call(request("POST", "/api/v1/namespaces/default/configmaps", R"({"metadata":{"name":"c)" + std::to_string(i) + R"("}})")).status, 201);
  auto page = body(call(request("GET", "/api/v1/namespaces/default/configmaps", "", {{"limit", "2"}})));
  EXPECT_EQ(page.at("kind"), json::value("ConfigMapList"));
  EXPECT_EQ(page.at("items").as_array().size(), 2u);
  std::string token(page.at_pointer("/metadata/continue").as_string());
  auto next = body(call(request("GET", "/api/v1/namespaces/default/configmaps", "", {{"limit", "10"}, {"continue", token}})));
  EXPECT_EQ(next.at("items").as_array().size(), 3u);
  EXPECT_EQ(next.at("items").as_array()[0].at_pointer("/metadata/name"), json::value("c2"));
}

TEST_F(ApiServerTest, TablesForKubectl) {
  call(request("POST", "/api/v1/namespaces/default/configmaps", R"({"metadata":{"name":"t"},"data":{"a":"1","b":"2"}})"));
  auto r = request("GET", "/api/v1/namespaces/default/configmaps");
  r.headers["accept"] = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
  auto t = body(call(r));
  EXPECT_EQ(t.at("kind"), json::value("Table"));
  EXPECT_EQ(t.at_pointer("/columnDefinitions/1/name"), json::value("Data"));
  EXPECT_EQ(t.at_pointer("/rows/0/cells/1"), json::value(2));
  EXPECT_EQ(t.at_pointer("/rows/0/object/kind"), json::value("PartialObjectMetadata"));
}

TEST_F(ApiServerTest, WatchResumesFromAResourceVersion) {
  auto a = body(call(request("POST", "/api/v1/namespaces/default/configmaps", R"({"metadata":{"name":"w1"}})")));
  std::string rv(a.at_pointer("/metadata/resourceVersion").as_string());
  call(request("POST", "/api/v1/namespaces/default/configmaps", R"({"metadata":{"name":"w2"}})"));
  call(request("DELETE", "/api/v1/namespaces/default/configmaps/w1"));
  FakeExchange ex(request("GET", "/api/v1/namespaces/default/configmaps", "",
                          {{"watch", "1"}, {"resourceVersion", rv}, {"timeoutSeconds", "1"}}));
  api_->handle(ex);
  std::string data = ex.watchFor(std::chrono::seconds(5));  // ends after timeoutSeconds
  std::vector<std::string> lines;
  std::stringstream ss(data);
  for (std::string line; std::getline(ss, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 2u) << data;
  auto e1 = json::parse(lines[0]), e2 = json::parse(lines[1]);
  EXPECT_EQ(e1.at("type"), json::value("ADDED"));
  EXPECT_EQ(e1.at_pointer("/object/metadata/name"), json::value("w2"));
  EXPECT_EQ(e2.at("type"), json::value("DELETED"));
  EXPECT_EQ(e2.at_pointer("/object/metadata/resourceVersion"), json::value(std::to_string(store_->revision())));
}

TEST_F(ApiServerTest, WatchSendsBookmarksWhenAsked) {
  FakeExchange ex(request("GET", "/api/v1/namespaces/default/configmaps", "",
                          {{"watch", "true"}, {"allowWatchBookmarks", "true"}, {"resourceVersion", std::to_string(store_->revision())},
                           {"timeoutSeconds", "1"}}));
  api_->handle(ex);
  std::string data = ex.watchFor(std::chrono::seconds(5));
  EXPECT_NE(data.find("\"type\":\"BOOKMARK\""), std::string::npos) << data;
}

TEST_F(ApiServerTest, WatchFromACompactedRevisionIs410) {
  for (int i = 0; i < 80; ++i)  // history holds 50 events in this test
    call(request("POST", "/api/v1/namespaces/default/configmaps", R"({"metadata":{"name":"h)" + std::to_string(i) + R"("}})"));
  FakeExchange ex(request("GET", "/api/v1/namespaces/default/configmaps", "", {{"watch", "1"}, {"resourceVersion", "2"}}));
  api_->handle(ex);
  auto e = json::parse(ex.watchFor(std::chrono::seconds(5)));
  EXPECT_EQ(e.at("type"), json::value("ERROR"));
  EXPECT_EQ(e.at_pointer("/object/code"), json::value(410));
  EXPECT_EQ(e.at_pointer("/object/reason"), json::value("Expired"));
}

TEST_F(ApiServerTest, WatchEndsWhenTheClientLeaves) {
  FakeExchange ex(request("GET", "/api/v1/namespaces/default/configmaps", "", {{"watch", "1"}}));
  api_->handle(ex);  // the handler returns; the stream lives on
  EXPECT_EQ(api_->activeWatches(), 1);
  ex.finish();  // the server ends the stream when the client leaves
  EXPECT_EQ(api_->activeWatches(), 0);
}

TEST_F(ApiServerTest, DeleteCollectionBySelector) {
  call(request("POST", "/api/v1/namespaces/default/configmaps", R"({"metadata":{"name":"x1","labels":{"g":"a"}}})"));
  call(request("POST", "/api/v1/namespaces/default/configmaps", R"({"metadata":{"name":"x2","labels":{"g":"b"}}})"));
  auto r = call(request("DELETE", "/api/v1/namespaces/default/configmaps", "", {{"labelSelector", "g=a"}}));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(call(request("GET", "/api/v1/namespaces/default/configmaps/x1")).status, 404);
  EXPECT_EQ(call(request("GET", "/api/v1/namespaces/default/configmaps/x2")).status, 200);
}

TEST_F(ApiServerTest, EveryWatcherOfAnEventSharesOneSerialisedFrame) {
  std::vector<std::unique_ptr<FakeExchange>> watchers;
  for (int i = 0; i < 3; ++i) {
    auto query = std::multimap<std::string, std::string>{{"watch", "1"}, {"resourceVersion", std::to_string(store_->revision())}};
    if (i == 2) query.emplace("labelSelector", "app=web");  // a filtered watch shares the same bytes
    watchers.push_back(std::make_unique<FakeExchange>(request("GET", "/api/v1/namespaces/default/configmaps", "", query)));
    api_->handle(*watchers.back());
  }
  call(request("POST", "/api/v1/namespaces/default/configmaps", R"({"metadata":{"name":"s1","labels":{"app":"web"}}})"));
  for (auto& w : watchers) ASSERT_EQ(w->events->chunks.size(), 1u);
  EXPECT_EQ(watchers[0]->events->chunks[0].get(), watchers[1]->events->chunks[0].get());
  EXPECT_EQ(watchers[0]->events->chunks[0].get(), watchers[2]->events->chunks[0].get());
  EXPECT_NE(watchers[0]->events->chunks[0]->find("\"type\":\"ADDED\""), std::string::npos);
  for (auto& w : watchers) w->finish();
}

TEST_F(ApiServerTest, AWatcherThatFallsBehindItsBudgetIsCutOffWith410) {
  ApiServerOptions o;
  o.token = "secret";
  o.watchBudgetBytes = 4096;
  api_ = std::make_unique<ApiServer>(*registry_, o);
  FakeExchange ex(request("GET", "/api/v1/namespaces/default/configmaps", "", {{"watch", "1"}, {"resourceVersion", std::to_string(store_->revision())}}));
  api_->handle(ex);
  for (int i = 0; i < 20; ++i)
    call(request("POST", "/api/v1/namespaces/default/configmaps", R"({"metadata":{"name":"b)" + std::to_string(i) + R"("},"data":{"v":")" + std::string(500, 'x') + R"("}})"));
  EXPECT_TRUE(ex.events->ended());
  std::string data = ex.events->text();
  std::string last = data.substr(data.rfind("{\"type\""));
  auto e = json::parse(last);
  EXPECT_EQ(e.at("type"), json::value("ERROR"));
  EXPECT_EQ(e.at_pointer("/object/code"), json::value(410));
  ex.finish();
  EXPECT_EQ(api_->activeWatches(), 0);
}

TEST_F(ApiServerTest, WatchTimeoutsAreCheckedAsKubernetesDoes) {
  for (std::string bad : {"-1", "99999999999999999999", "ten"}) {
    FakeExchange ex(request("GET", "/api/v1/namespaces/default/configmaps", "", {{"watch", "1"}, {"timeoutSeconds", bad}}));
    api_->handle(ex);
    EXPECT_EQ(ex.response.status, 400) << bad;
    EXPECT_FALSE(ex.events) << bad;
  }
}

TEST_F(ApiServerTest, AWatchFromAFutureResourceVersionIsRefused) {
  int64_t future = store_->revision() + 1000;
  FakeExchange ex(request("GET", "/api/v1/namespaces/default/configmaps", "", {{"watch", "1"}, {"resourceVersion", std::to_string(future)}}));
  api_->handle(ex);  // waits a moment for the revision, as kube-apiserver does, then refuses
  EXPECT_EQ(ex.response.status, 504);
  auto b = json::parse(ex.response.body);
  EXPECT_EQ(b.at("reason"), json::value("Timeout"));
  EXPECT_EQ(b.at_pointer("/details/causes/0/reason"), json::value("ResourceVersionTooLarge"));
}

TEST_F(ApiServerTest, BodiesInMediaTypesItDoesNotServeAre415) {
  auto r = request("POST", "/api/v1/namespaces/default/configmaps", R"({"metadata":{"name":"t1"}})");
  r.headers["content-type"] = "text/plain";
  EXPECT_EQ(call(r).status, 415);
  r.headers.erase("content-type");  // none at all is JSON, as kube-apiserver reads it
  EXPECT_EQ(call(r).status, 201);
  r = request("POST", "/api/v1/namespaces/default/configmaps", "metadata:\n  name: t2\n");
  r.headers["content-type"] = "application/yaml; charset=utf-8";
  EXPECT_EQ(call(r).status, 201);
}

TEST_F(ApiServerTest, InventedMethodsDoNotBecomeMetricLabels) {
  for (int i = 0; i < 20; ++i) call(request("XMETHOD" + std::to_string(i), "/api/v1/namespaces/default/configmaps"));
  std::string metrics = observe::exposition();
  EXPECT_EQ(metrics.find("XMETHOD"), std::string::npos);
  EXPECT_NE(metrics.find("verb=\"other\""), std::string::npos);
}

TEST_F(ApiServerTest, AdmissionDecidesFromTheHead) {
  http::Request r = request("POST", "/api/v1/namespaces/default/configmaps");
  EXPECT_FALSE(api_->admit(r).refusal);
  EXPECT_EQ(api_->admit(r).user, "system:admin");
  r.headers["authorization"] = "Bearer secreT";
  auto refused = api_->admit(r);
  ASSERT_TRUE(refused.refusal);
  EXPECT_EQ(refused.refusal->status, 401);
  r.headers.erase("authorization");
  EXPECT_TRUE(api_->admit(r).refusal);
  r.path = "/healthz";
  EXPECT_FALSE(api_->admit(r).refusal);
  r = request("GET", "/api/v1/namespaces/default/pods/p/exec");
  EXPECT_TRUE(api_->admit(r).longRunning);
  r = request("GET", "/api/v1/namespaces/default/pods/p/log", "", {{"follow", "true"}});
  EXPECT_TRUE(api_->admit(r).longRunning);
  r = request("GET", "/api/v1/namespaces/default/pods", "", {{"watch", "1"}});
  EXPECT_FALSE(api_->admit(r).longRunning);  // watches are event streams, not threads
}

}  // namespace skiff::apiserver
