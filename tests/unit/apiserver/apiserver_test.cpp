// The REST layer driven through an in-memory Exchange: routing, auth, Status bodies, watch
// streaming (resume, bookmarks, 410 after compaction) and tables, without sockets.
#include "apiserver/apiserver.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <thread>

#include "api/object.h"
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

class FakeExchange final : public http::Exchange {
 public:
  explicit FakeExchange(http::Request r) : request_(std::move(r)) {}
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
  badPatch.headers["content-type"] = "application/apply-patch+yaml";
  EXPECT_EQ(call(badPatch).status, 415);
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
  api_->handle(ex);  // returns after timeoutSeconds
  std::vector<std::string> lines;
  std::stringstream ss(ex.stream.data);
  for (std::string line; std::getline(ss, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 2u) << ex.stream.data;
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
  EXPECT_NE(ex.stream.data.find("\"type\":\"BOOKMARK\""), std::string::npos) << ex.stream.data;
}

TEST_F(ApiServerTest, WatchFromACompactedRevisionIs410) {
  for (int i = 0; i < 80; ++i)  // history holds 50 events in this test
    call(request("POST", "/api/v1/namespaces/default/configmaps", R"({"metadata":{"name":"h)" + std::to_string(i) + R"("}})"));
  FakeExchange ex(request("GET", "/api/v1/namespaces/default/configmaps", "", {{"watch", "1"}, {"resourceVersion", "2"}}));
  api_->handle(ex);
  auto e = json::parse(ex.stream.data);
  EXPECT_EQ(e.at("type"), json::value("ERROR"));
  EXPECT_EQ(e.at_pointer("/object/code"), json::value(410));
  EXPECT_EQ(e.at_pointer("/object/reason"), json::value("Expired"));
}

TEST_F(ApiServerTest, WatchEndsWhenTheClientLeaves) {
  FakeExchange ex(request("GET", "/api/v1/namespaces/default/configmaps", "", {{"watch", "1"}}));
  std::thread t([&] { api_->handle(ex); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(api_->activeWatches(), 1);
  ex.stream.closed = true;
  t.join();
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

}  // namespace skiff::apiserver
