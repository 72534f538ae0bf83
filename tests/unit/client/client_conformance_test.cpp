// One suite for every client::Client: the in-process LocalClient and the HTTPS RestClient talking
// to a real API server on loopback must answer every verb the same way (objects, errors by
// code and reason, watches, informers). Then what only the remote client has: failover, resumed
// watches, servers that are not API servers, and deadlines.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <atomic>
#include <filesystem>
#include <mutex>
#include <thread>

#include "api/object.h"
#include "apiserver/apiserver.h"
#include "client/informer.h"
#include "client/local_client.h"
#include "client/rest_client.h"
#include "http/http.h"
#include "pki/pki.h"
#include "store/sqlite/sqlite_store.h"

namespace skiff::client {
namespace {
namespace fs = std::filesystem;

const api::ResourceType& configMaps() { return *api::findByKind("v1", "ConfigMap"); }
const api::ResourceType& pods() { return *api::findByKind("v1", "Pod"); }

json::value configMap(const std::string& name, const std::string& app = "web") {
  return json::object{{"metadata", json::object{{"name", name}, {"labels", json::object{{"app", app}}}}},
                      {"data", json::object{{"k", "v"}}}};
}

json::value pod(const std::string& name) {
  return json::object{{"metadata", json::object{{"name", name}}},
                      {"spec", json::object{{"containers", json::array{json::object{{"name", "c"}, {"image", "busybox"}}}}}}};
}

// Waits (bounded) until `done` holds.
template <class F>
bool eventually(F done, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

// A store, registry and API server over TLS on a loopback port.
class Cluster {
 public:
  explicit Cluster(const fs::path& dir) : dir_(dir) {
    fs::create_directories(dir_);
    store_ = std::move(*store::openSqliteStore({(dir_ / "store.db").string(), 50, 1024}));
    registry_ = std::make_unique<apiserver::Registry>(*store_);
    (void)registry_->bootstrap();
    apiserver::ApiServerOptions o;
    o.token = "secret";
    o.bookmarkInterval = std::chrono::milliseconds(200);
    api_ = std::make_unique<apiserver::ApiServer>(*registry_, o);
    tls_ = *pki::ensureServingCertificate((dir_ / "tls").string(), {"127.0.0.1"});
  }
  ~Cluster() { stopServing(); }
  Status serve(uint16_t port = 0) {
    http::ServerOptions o;
    o.port = port;
    o.tlsCertPem = tls_.certPem;
    o.tlsKeyPem = tls_.keyPem;
    auto* api = api_.get();
    o.admit = [api](const http::Request& head) { return api->admit(head); };
    auto s = http::listen(o, [api](http::Exchange& ex) { api->handle(ex); });
    if (!s) return s.error();
    server_ = std::move(*s);
    port_ = server_->port();
    return {};
  }
  void stopServing() {
    if (server_) server_->stop();
    server_.reset();
  }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }
  RestConfig config() const {
    RestConfig c;
    c.servers = {url()};
    c.caPem = tls_.caCertPem;
    c.token = "secret";
    return c;
  }
  apiserver::Registry& registry() { return *registry_; }
  store::Store& store() { return *store_; }
  uint16_t port() const { return port_; }

 private:
  fs::path dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<apiserver::Registry> registry_;
  std::unique_ptr<apiserver::ApiServer> api_;
  pki::ServingBundle tls_;
  std::unique_ptr<http::Server> server_;
  uint16_t port_ = 0;
};

fs::path testDir() {
  std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  for (char& c : name)
    if (c == '/') c = '_';
  return fs::temp_directory_path() / ("skiff-client-" + std::to_string(::getpid()) + "-" + name);
}

class ClientConformance : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = testDir();
    fs::remove_all(dir_);
    cluster_ = std::make_unique<Cluster>(dir_);
    if (GetParam() == "local") {
      client_ = std::make_unique<LocalClient>(cluster_->registry());
    } else {
      ASSERT_TRUE(cluster_->serve().ok());
      auto c = RestClient::create(cluster_->config());
      ASSERT_TRUE(c.ok()) << c.error().message;
      client_ = std::move(*c);
    }
  }
  void TearDown() override {
    client_.reset();
    cluster_.reset();
    fs::remove_all(dir_);
  }
  Client& client() { return *client_; }

  fs::path dir_;
  std::unique_ptr<Cluster> cluster_;
  std::unique_ptr<Client> client_;
};

TEST_P(ClientConformance, CreateGetUpdateDelete) {
  auto created = client().create(configMaps(), "default", configMap("a"));
  ASSERT_TRUE(created.ok()) << created.error().message;
  EXPECT_EQ(api::stringAt(*created, "kind"), "ConfigMap");
  EXPECT_GT(resourceVersionOf(*created), 0);
  EXPECT_FALSE(api::stringAt(*created, "metadata.uid").empty());

  auto again = client().create(configMaps(), "default", configMap("a"));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, 409);
  EXPECT_EQ(again.error().reason, "AlreadyExists");

  auto got = client().get(configMaps(), "default", "a");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(api::stringAt(*got, "data.k"), "v");

  json::value changed = *got;
  changed.as_object()["data"].as_object()["k"] = "w";
  auto updated = client().update(configMaps(), "default", "a", changed, "");
  ASSERT_TRUE(updated.ok()) << updated.error().message;
  EXPECT_EQ(api::stringAt(*updated, "data.k"), "w");
  EXPECT_GT(resourceVersionOf(*updated), resourceVersionOf(*got));

  // The old resourceVersion is stale now: optimistic concurrency refuses it.
  auto stale = client().update(configMaps(), "default", "a", changed, "");
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, 409);
  EXPECT_EQ(stale.error().reason, "Conflict");

  auto removed = client().remove(configMaps(), "default", "a");
  ASSERT_TRUE(removed.ok()) << removed.error().message;
  auto gone = client().get(configMaps(), "default", "a");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, 404);
  EXPECT_EQ(gone.error().reason, "NotFound");
}

TEST_P(ClientConformance, PatchesOfEveryType) {
  ASSERT_TRUE(client().create(configMaps(), "default", configMap("p")).ok());
  auto merged = client().patch(configMaps(), "default", "p", PatchType::Merge, json::parse(R"({"data":{"m":"1"}})"), "");
  ASSERT_TRUE(merged.ok()) << merged.error().message;
  EXPECT_EQ(api::stringAt(*merged, "data.m"), "1");
  auto jsonPatched = client().patch(configMaps(), "default", "p", PatchType::Json,
                                    json::parse(R"([{"op":"add","path":"/data/j","value":"2"}])"), "");
  ASSERT_TRUE(jsonPatched.ok()) << jsonPatched.error().message;
  EXPECT_EQ(api::stringAt(*jsonPatched, "data.j"), "2");
  auto strategic = client().patch(configMaps(), "default", "p", PatchType::Strategic, json::parse(R"({"data":{"s":"3"}})"), "");
  ASSERT_TRUE(strategic.ok()) << strategic.error().message;
  EXPECT_EQ(api::stringAt(*strategic, "data.s"), "3");
  EXPECT_EQ(api::stringAt(*strategic, "data.m"), "1");
}

TEST_P(ClientConformance, InvalidObjectsComeBackWithTheirCauses) {
  json::value bad = json::object{{"metadata", json::object{{"name", "nocontainers"}}}, {"spec", json::object{}}};
  auto r = client().create(pods(), "default", bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, 422);
  EXPECT_EQ(r.error().reason, "Invalid");
  ASSERT_FALSE(r.error().causes.empty());
  EXPECT_NE(r.error().causes[0].field.find("containers"), std::string::npos);
}

TEST_P(ClientConformance, DryRunStoresNothingAndWarningsArrive) {
  WriteOptions dry;
  dry.dryRun = true;
  ASSERT_TRUE(client().create(configMaps(), "default", configMap("dry"), dry).ok());
  EXPECT_FALSE(client().get(configMaps(), "default", "dry").ok());

  std::vector<std::string> warnings;
  WriteOptions warn;
  warn.warnings = &warnings;
  json::value withUnknown = configMap("w");
  withUnknown.as_object()["bogus"] = 1;
  ASSERT_TRUE(client().create(configMaps(), "default", withUnknown, warn).ok());
  ASSERT_FALSE(warnings.empty());
  EXPECT_NE(warnings[0].find("bogus"), std::string::npos);
}

TEST_P(ClientConformance, ListsBySelectorAndPages) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(client().create(configMaps(), "default", configMap("l" + std::to_string(i), i < 3 ? "web" : "db")).ok());
  ListOptions web;
  web.labels = *api::LabelSelector::parse("app=web");
  auto l = client().list(configMaps(), "default", web);
  ASSERT_TRUE(l.ok()) << l.error().message;
  EXPECT_EQ(l->items.size() + l->rawItems.size(), 3u);
  EXPECT_GT(l->revision, 0);

  ListOptions page;
  page.limit = 2;
  auto first = client().list(configMaps(), "default", page);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->items.size() + first->rawItems.size(), 2u);
  EXPECT_FALSE(first->continueToken.empty());
}

TEST_P(ClientConformance, BindsPodsOnce) {
  ASSERT_TRUE(client().create(pods(), "default", pod("b")).ok());
  auto bound = client().bind("default", "b", "node-1");
  ASSERT_TRUE(bound.ok()) << bound.error().message;
  EXPECT_EQ(api::stringAt(*bound, "spec.nodeName"), "node-1");
  auto twice = client().bind("default", "b", "node-2");
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error().code, 409);
}

TEST_P(ClientConformance, WatchesDeliverChangesInOrder) {
  auto start = client().list(configMaps(), "default", {});
  ASSERT_TRUE(start.ok());
  std::mutex m;
  std::vector<std::pair<std::string, std::string>> seen;  // (type, name)
  auto w = client().watch(configMaps(), "default", *api::LabelSelector::parse("app=web"), {}, start->revision, [&](WatchEvent e) {
    ASSERT_TRUE(e.raw);
    auto o = json::parse(*e.raw);
    std::lock_guard lock(m);
    seen.emplace_back(e.type, api::stringAt(o, "metadata.name"));
  });
  ASSERT_TRUE(w.ok()) << w.error().message;
  ASSERT_TRUE(client().create(configMaps(), "default", configMap("x")).ok());
  ASSERT_TRUE(client().create(configMaps(), "default", configMap("other", "db")).ok());
  ASSERT_TRUE(client().patch(configMaps(), "default", "x", PatchType::Merge, json::parse(R"({"data":{"n":"1"}})"), "").ok());
  // Stops matching the selector: the watcher sees it leave.
  ASSERT_TRUE(client().patch(configMaps(), "default", "x", PatchType::Merge, json::parse(R"({"metadata":{"labels":{"app":"db"}}})"), "").ok());
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(m);
    return seen.size() >= 3;
  }));
  std::lock_guard lock(m);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0], std::make_pair(std::string("ADDED"), std::string("x")));
  EXPECT_EQ(seen[1], std::make_pair(std::string("MODIFIED"), std::string("x")));
  EXPECT_EQ(seen[2], std::make_pair(std::string("DELETED"), std::string("x")));
}

TEST_P(ClientConformance, InformersSyncAndFollowTheirScope) {
  ASSERT_TRUE(client().create(pods(), "default", pod("mine")).ok());
  ASSERT_TRUE(client().create(pods(), "default", pod("theirs")).ok());
  ASSERT_TRUE(client().bind("default", "mine", "node-a").ok());
  ASSERT_TRUE(client().bind("default", "theirs", "node-b").ok());
  Informer informer(client(), pods(), {"", {}, *api::FieldSelector::parse("spec.nodeName=node-a")});
  std::atomic<int> events{0};
  informer.addHandler([&](const std::string&, const ObjectPtr&, const ObjectPtr&) { ++events; });
  ASSERT_TRUE(informer.start().ok());
  EXPECT_TRUE(informer.hasSynced());
  EXPECT_EQ(informer.size(), 1u);
  EXPECT_TRUE(informer.get("default", "mine"));
  EXPECT_FALSE(informer.get("default", "theirs"));

  ASSERT_TRUE(client().create(pods(), "default", pod("later")).ok());
  ASSERT_TRUE(client().bind("default", "later", "node-a").ok());
  EXPECT_TRUE(eventually([&] { return informer.get("default", "later") != nullptr; }));
  ASSERT_TRUE(client().remove(pods(), "default", "mine", DeleteOptions{0, "", "", ""}).ok());
  EXPECT_TRUE(eventually([&] { return informer.get("default", "mine") == nullptr; }));
  EXPECT_EQ(informer.listByNode("node-a").size(), 1u);
  informer.stop();
}

INSTANTIATE_TEST_SUITE_P(Clients, ClientConformance, ::testing::Values("local", "rest"),
                         [](const auto& info) { return info.param; });

// ---- what only the remote client has ----

class RestClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testDir();
    fs::remove_all(dir_);
    cluster_ = std::make_unique<Cluster>(dir_);
    ASSERT_TRUE(cluster_->serve().ok());
  }
  void TearDown() override {
    cluster_.reset();
    fs::remove_all(dir_);
  }
  fs::path dir_;
  std::unique_ptr<Cluster> cluster_;
};

// A loopback port nothing listens on.
uint16_t deadPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

TEST_F(RestClientTest, FailsOverToTheNextServer) {
  RestConfig c = cluster_->config();
  c.servers.insert(c.servers.begin(), "https://127.0.0.1:" + std::to_string(deadPort()));
  auto client = RestClient::create(c);
  ASSERT_TRUE(client.ok());
  auto r = (*client)->create(configMaps(), "default", configMap("f"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ((*client)->currentServer(), cluster_->url());
}

TEST_F(RestClientTest, RefusesPlainHttpAddressesAndWrongCredentials) {
  RestConfig c = cluster_->config();
  c.servers = {"http://127.0.0.1:6443"};
  auto plain = RestClient::create(c);
  ASSERT_FALSE(plain.ok());
  EXPECT_NE(plain.error().message.find("https://"), std::string::npos);

  c = cluster_->config();
  c.token = "wrong";
  auto client = RestClient::create(c);
  ASSERT_TRUE(client.ok());
  auto r = (*client)->get(configMaps(), "default", "x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, 401);
}

TEST_F(RestClientTest, NamesAServerThatIsNotAnApiServer) {
  auto tls = *pki::ensureServingCertificate((dir_ / "other-tls").string(), {"127.0.0.1"});
  http::ServerOptions o;
  o.tlsCertPem = tls.certPem;
  o.tlsKeyPem = tls.keyPem;
  auto other = http::listen(o, [](http::Exchange& ex) { ex.respond({404, "text/html", {}, "<html>nothing here</html>"}); });
  ASSERT_TRUE(other.ok());
  RestConfig c;
  c.servers = {"https://127.0.0.1:" + std::to_string((*other)->port())};
  c.caPem = tls.caCertPem;
  c.token = "secret";
  auto client = RestClient::create(c);
  ASSERT_TRUE(client.ok());
  auto r = (*client)->get(configMaps(), "default", "x");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("is this address a skiff API server"), std::string::npos) << r.error().message;
  (*other)->stop();
}

TEST_F(RestClientTest, ServerThatNeverAnswersTimesOut) {
  // Accepts connections (the kernel's backlog) but never speaks TLS.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 8), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  RestConfig c = cluster_->config();
  c.servers = {"https://127.0.0.1:" + std::to_string(ntohs(a.sin_port))};
  c.timeout = std::chrono::milliseconds(300);
  auto client = RestClient::create(c);
  ASSERT_TRUE(client.ok());
  auto r = (*client)->get(configMaps(), "default", "x");
  ::close(fd);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, 503);
}

TEST_F(RestClientTest, WatchFromACompactedRevisionEndsWithGone) {
  auto client = std::move(*RestClient::create(cluster_->config()));
  auto first = client->create(configMaps(), "default", configMap("c1"));
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(client->create(configMaps(), "default", configMap("c2")).ok());
  cluster_->store().compact(cluster_->store().revision());
  std::mutex m;
  std::vector<WatchEvent> events;
  auto w = client->watch(configMaps(), "default", {}, {}, resourceVersionOf(*first), [&](WatchEvent e) {
    std::lock_guard lock(m);
    events.push_back(std::move(e));
  });
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(m);
    return !events.empty();
  }));
  std::lock_guard lock(m);
  EXPECT_EQ(events[0].type, "ERROR");
  EXPECT_EQ(api::valueAt(events[0].object, "code")->to_number<int64_t>(), 410);
}

TEST_F(RestClientTest, InformerCatchesUpAfterTheServerComesBack) {
  auto client = std::move(*RestClient::create(cluster_->config()));
  Informer informer(*client, configMaps());
  ASSERT_TRUE(informer.start().ok());
  ASSERT_TRUE(client->create(configMaps(), "default", configMap("before")).ok());
  ASSERT_TRUE(eventually([&] { return informer.get("default", "before") != nullptr; }));
  uint16_t port = cluster_->port();
  cluster_->stopServing();
  // Changes while the node cannot see the server.
  ASSERT_TRUE(cluster_->registry().create(configMaps(), "default", configMap("during")).ok());
  ASSERT_TRUE(cluster_->registry().remove(configMaps(), "default", "before").ok());
  ASSERT_TRUE(cluster_->serve(port).ok());
  EXPECT_TRUE(eventually([&] { return informer.get("default", "during") != nullptr && informer.get("default", "before") == nullptr; },
                         std::chrono::seconds(20)));
  informer.stop();
}

TEST_F(RestClientTest, InformerRelistsWhenItsRevisionIsGone) {
  auto client = std::move(*RestClient::create(cluster_->config()));
  Informer informer(*client, configMaps());
  ASSERT_TRUE(informer.start().ok());
  ASSERT_TRUE(client->create(configMaps(), "default", configMap("one")).ok());
  ASSERT_TRUE(eventually([&] { return informer.get("default", "one") != nullptr; }));
  uint16_t port = cluster_->port();
  cluster_->stopServing();
  ASSERT_TRUE(cluster_->registry().create(configMaps(), "default", configMap("two")).ok());
  ASSERT_TRUE(cluster_->registry().remove(configMaps(), "default", "one").ok());
  // The history the watch would resume from is gone: only a relist can catch up.
  cluster_->store().compact(cluster_->store().revision());
  ASSERT_TRUE(cluster_->serve(port).ok());
  EXPECT_TRUE(eventually([&] { return informer.get("default", "two") != nullptr && informer.get("default", "one") == nullptr; },
                         std::chrono::seconds(20)));
  informer.stop();
}

}  // namespace
}  // namespace skiff::client
