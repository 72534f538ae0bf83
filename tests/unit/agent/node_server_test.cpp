// The node server over a real HTTPS listener on loopback: who may call it, what its endpoints
// answer, exec with a real process, and the API server's NodeClient reading it through a Node.
#include "agent/node_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>

#include "apiserver/node_client.h"
#include "apiserver/registry.h"
#include "http/websocket.h"
#include "store/sqlite/sqlite_store.h"

extern char** environ;

namespace skiff::agent {
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

// A real child with pipes for stdin, stdout and stderr, as a runtime's exec hands them back.
Result<runtime::ExecProcess> spawnShell(const std::string& script) {
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) return Error::internal("pipe");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  const char* argv[] = {"/bin/sh", "-c", script.c_str(), nullptr};
  pid_t pid = -1;
  int rc = posix_spawn(&pid, "/bin/sh", &actions, nullptr, const_cast<char**>(argv), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(in[0]);
  close(out[1]);
  close(err[1]);
  if (rc != 0) return Error::internal("spawn");
  return runtime::ExecProcess{pid, in[1], out[0], err[0]};
}

}  // namespace

class NodeServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    signal(SIGPIPE, SIG_IGN);  // as `skiff up` does: TLS writes to a peer that left must fail, not kill
    dir_ = fs::temp_directory_path() / ("skiff-nodeserver-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream(dir_ / "0.log") << "one\ntwo\nthree\nfour\n";
    ca_ = std::move(*pki::CertificateAuthority::ephemeral());
    NodeView view;
    view.logPath = [this](const std::string& ns, const std::string& pod, const std::string& c, bool) -> Result<std::string> {
      if (ns == "default" && pod == "web" && c == "app") return (dir_ / "0.log").string();
      return Error::notFound("container " + c + " not found in pod " + ns + "/" + pod);
    };
    view.running = [this](const std::string&, const std::string&, const std::string&) { return running_.load(); };
    view.startExec = [](const std::string&, const std::string&, const std::string& c, const std::vector<std::string>& command, bool,
                        bool) -> Result<runtime::ExecProcess> {
      if (c != "app") return Error::badRequest("container " + c + " is not valid for pod web, choose one of: [app]");
      return spawnShell(command.back());
    };
    view.containers = [] {
      return std::vector<ContainerSample>{{"default", "web", "app", 0.25, 3000000000, 4 << 20, 5 << 20, 64 << 20, 0, 0}};
    };
    view.node = [] { return NodeUsageSample{1.5, 1ull << 30}; };
    view.pods = [] {
      return std::vector<PodObject>{std::make_shared<const json::value>(
          json::parse(R"({"metadata":{"name":"web","namespace":"default","uid":"u-1"},"spec":{"nodeName":"n1"}})"))};
    };
    view.requests = [] { return RequestSample{{{"default/web", 2.5}}, 10, 1}; };
    NodeServerOptions options;
    options.nodeName = "n1";
    options.host = "127.0.0.1";
    options.port = 0;
    options.clientCaPem = ca_.certPem();
    options.adminToken = "admin-token-0123456789";
    options.certificate = [ca = ca_] { return ca.issueCertificate({"n1", "system:nodes", {"n1", "127.0.0.1"}, true, false}); };
    server_ = std::make_unique<NodeServer>(view, options);
    ASSERT_TRUE(server_->start().ok());
  }
  void TearDown() override {
    server_.reset();
    fs::remove_all(dir_);
  }
  // A client presenting a certificate with this CN from `ca` ("" = none).
  std::unique_ptr<http::Client> client(const std::string& commonName, const pki::CertificateAuthority* ca = nullptr, std::string token = "") {
    auto c = std::make_unique<http::Client>("127.0.0.1", server_->port(), std::move(token), ca_.certPem(), "the node server");
    if (!commonName.empty()) {
      auto cert = (ca ? *ca : ca_).issueCertificate({commonName, "", {}, false, true});
      c->setClientCertificate(cert->certPem, cert->keyPem);
    }
    return c;
  }
  std::unique_ptr<http::Client> apiServer() { return client(kApiServerClientName); }

  fs::path dir_;
  pki::CertificateAuthority ca_;
  std::atomic<bool> running_{false};
  std::unique_ptr<NodeServer> server_;
};

TEST_F(NodeServerTest, HealthNeedsNoIdentity) {
  auto r = client("")->request("GET", "/healthz");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "ok");
}

TEST_F(NodeServerTest, RefusesClientsWithoutAClusterCertificate) {
  auto none = client("")->request("GET", "/pods");
  ASSERT_TRUE(none.ok()) << none.error().message;
  EXPECT_EQ(none->status, 401);
  EXPECT_NE(none->body.find("needs a client certificate signed by the cluster CA"), std::string::npos) << none->body;

  auto other = pki::CertificateAuthority::ephemeral();
  auto foreign = client(kApiServerClientName, &*other)->request("GET", "/pods");
  ASSERT_TRUE(foreign.ok()) << foreign.error().message;
  EXPECT_EQ(foreign->status, 401);
  EXPECT_NE(foreign->body.find("not valid here"), std::string::npos) << foreign->body;

  auto badToken = client("", nullptr, "not-the-token")->request("GET", "/pods");
  ASSERT_TRUE(badToken.ok());
  EXPECT_EQ(badToken->status, 401);
  EXPECT_NE(badToken->body.find("the bearer token sent is not valid here"), std::string::npos) << badToken->body;
}

TEST_F(NodeServerTest, RefusesOtherIdentitiesOfTheCluster) {
  auto r = client("system:node:n2")->request("GET", "/pods");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 403);
  EXPECT_NE(r->body.find("user \\\"system:node:n2\\\" may not use the node server of n1"), std::string::npos) << r->body;
}

TEST_F(NodeServerTest, AcceptsTheApiServerAndTheAdminToken) {
  auto r = apiServer()->request("GET", "/pods");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->status, 200) << r->body;
  json::value list = json::parse(r->body);
  EXPECT_EQ(list.at("kind").as_string(), "PodList");
  EXPECT_EQ(list.at("items").at(0).at("metadata").at("name").as_string(), "web");
  auto admin = client("", nullptr, "admin-token-0123456789")->request("GET", "/pods");
  ASSERT_TRUE(admin.ok());
  EXPECT_EQ(admin->status, 200);
}

TEST_F(NodeServerTest, ContainerLogsHonourTailLinesAndLimitBytes) {
  auto c = apiServer();
  auto all = c->request("GET", "/containerLogs/default/web/app");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->body, "one\ntwo\nthree\nfour\n");
  auto tail = c->request("GET", "/containerLogs/default/web/app?tailLines=2");
  EXPECT_EQ(tail->body, "three\nfour\n");
  auto limited = c->request("GET", "/containerLogs/default/web/app?tailLines=3&limitBytes=5");
  EXPECT_EQ(limited->body, "two\nt");
  auto missing = c->request("GET", "/containerLogs/default/web/nope");
  EXPECT_EQ(missing->status, 404);
  EXPECT_NE(missing->body.find("container nope not found"), std::string::npos);
  auto badTail = c->request("GET", "/containerLogs/default/web/app?tailLines=-1");
  EXPECT_EQ(badTail->status, 400);
  auto stamps = c->request("GET", "/containerLogs/default/web/app?timestamps=true");
  EXPECT_EQ(stamps->status, 400);
  EXPECT_NE(stamps->body.find("per-line times"), std::string::npos);
}

TEST_F(NodeServerTest, FollowStreamsNewLinesUntilTheContainerStops) {
  running_ = true;
  std::string got;
  std::thread writer([this] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    std::ofstream(dir_ / "0.log", std::ios::app) << "five\n";
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    running_ = false;
  });
  auto status = apiServer()->stream("/containerLogs/default/web/app?follow=true&tailLines=1", {}, [&](std::string_view d) {
    got.append(d);
    return true;
  });
  writer.join();
  ASSERT_TRUE(status.ok()) << status.error().message;
  EXPECT_EQ(*status, 200);
  EXPECT_EQ(got, "four\nfive\n");
}

// A relay whose client left ends its upstream follow even while the container is quiet (else
// both ends would wait for the next log line, holding a thread each).
TEST_F(NodeServerTest, AFollowEndsWhenTheRelayNoLongerWantsIt) {
  running_ = true;
  std::atomic<bool> wanted{true}, sawHead{false};
  http::Client::StreamHooks hooks;
  hooks.onHeaders = [&](int status, const std::map<std::string, std::string>&) { sawHead = status == 200; };
  hooks.stillWanted = [&] { return wanted.load(); };
  std::thread leave([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    wanted = false;
  });
  std::string got;
  auto status = apiServer()->stream("/containerLogs/default/web/app?follow=true&tailLines=0", {}, [&](std::string_view d) {
    got.append(d);
    return true;
  }, nullptr, &hooks);
  leave.join();
  EXPECT_TRUE(sawHead);
  EXPECT_EQ(got, "");
  EXPECT_TRUE(running_);  // it ended because it was not wanted, not because the container stopped
}

TEST_F(NodeServerTest, ExecRelaysStdinOutputAndTheExitCode) {
  auto ws = apiServer()->openWebSocket("/exec/default/web/app?command=sh&command=-c&command=read+x%3B+echo+got+%24x%3B+echo+oops+%3E%262%3B+exit+3&stdin=true",
                                       {"v5.channel.k8s.io", "v4.channel.k8s.io"});
  ASSERT_TRUE(ws.ok()) << ws.error().message;
  EXPECT_EQ((*ws)->protocol(), "v5.channel.k8s.io");
  ASSERT_TRUE((*ws)->send(std::string("\0hello\n", 7)));
  ASSERT_TRUE((*ws)->send(std::string("\xff\0", 2)));  // v5: stdin closed
  std::string out, err, status;
  for (int i = 0; i < 20 && status.empty(); ++i) {
    auto msg = (*ws)->receiveBlocking();
    if (!msg) break;
    if (msg->empty()) continue;
    std::string data = msg->substr(1);
    if ((*msg)[0] == 1) out += data;
    else if ((*msg)[0] == 2) err += data;
    else if ((*msg)[0] == 3) status = data;
  }
  EXPECT_EQ(out, "got hello\n");
  EXPECT_EQ(err, "oops\n");
  json::value s = json::parse(status);
  EXPECT_EQ(s.at("status").as_string(), "Failure");
  EXPECT_EQ(s.at("details").at("causes").at(0).at("message").as_string(), "3");
}

TEST_F(NodeServerTest, ExecFailureTravelsAsTheFinalStatus) {
  auto ws = apiServer()->openWebSocket("/exec/default/web/other?command=true", {"v4.channel.k8s.io"});
  ASSERT_TRUE(ws.ok()) << ws.error().message;
  auto msg = (*ws)->receiveBlocking();
  ASSERT_TRUE(msg.ok());
  ASSERT_FALSE(msg->empty());
  EXPECT_EQ((*msg)[0], 3);
  EXPECT_NE(msg->find("choose one of: [app]"), std::string::npos) << *msg;
}

TEST_F(NodeServerTest, AttachStreamsTheOutputFromNowOnUntilTheContainerStops) {
  running_ = true;
  auto ws = apiServer()->openWebSocket("/attach/default/web/app?stdout=true", {"v5.channel.k8s.io"});
  ASSERT_TRUE(ws.ok()) << ws.error().message;
  std::thread writer([this] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    std::ofstream(dir_ / "0.log", std::ios::app) << "six\n";
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    running_ = false;
  });
  std::string out, status;
  for (int i = 0; i < 20 && status.empty(); ++i) {
    auto msg = (*ws)->receiveBlocking();
    if (!msg) break;
    if (msg->empty()) continue;
    if ((*msg)[0] == 1) out += msg->substr(1);
    if ((*msg)[0] == 3) status = msg->substr(1);
  }
  writer.join();
  EXPECT_EQ(out, "six\n");  // not the lines written before it attached
  EXPECT_NE(status.find("\"Success\""), std::string::npos) << status;
}

TEST_F(NodeServerTest, AttachRefusesStdinWithAReason) {
  running_ = true;
  auto ws = apiServer()->openWebSocket("/attach/default/web/app?stdin=true&stdout=true", {"v5.channel.k8s.io"});
  ASSERT_TRUE(ws.ok()) << ws.error().message;
  auto msg = (*ws)->receiveBlocking();
  ASSERT_TRUE(msg.ok());
  ASSERT_FALSE(msg->empty());
  EXPECT_EQ((*msg)[0], 3);
  EXPECT_NE(msg->find("no stdin or terminal to attach to"), std::string::npos) << *msg;
}

TEST_F(NodeServerTest, SummaryAndResourceMetricsHaveTheKubeletShape) {
  auto c = apiServer();
  auto r = c->request("GET", "/stats/summary");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 200);
  json::value s = json::parse(r->body);
  EXPECT_EQ(s.at("node").at("nodeName").as_string(), "n1");
  EXPECT_EQ(s.at("node").at("cpu").at("usageNanoCores").to_number<int64_t>(), 1500000000);
  const json::value& pod = s.at("pods").at(0);
  EXPECT_EQ(pod.at("podRef").at("uid").as_string(), "u-1");
  EXPECT_EQ(pod.at("containers").at(0).at("name").as_string(), "app");
  EXPECT_EQ(pod.at("containers").at(0).at("cpu").at("usageNanoCores").to_number<int64_t>(), 250000000);
  EXPECT_EQ(pod.at("memory").at("workingSetBytes").to_number<int64_t>(), 4 << 20);

  auto m = c->request("GET", "/metrics/resource");
  ASSERT_TRUE(m.ok());
  EXPECT_NE(m->body.find("container_cpu_usage_seconds_total{container=\"app\",namespace=\"default\",pod=\"web\"} 3.000000000 "), std::string::npos)
      << m->body;
  EXPECT_NE(m->body.find("node_memory_working_set_bytes 1073741824 "), std::string::npos);
  auto cadvisor = c->request("GET", "/metrics/cadvisor");
  EXPECT_NE(cadvisor->body.find("container_memory_working_set_bytes{namespace=\"default\",pod=\"web\",container=\"app\",node=\"n1\"} 4194304"),
            std::string::npos);
}

TEST_F(NodeServerTest, UnknownPathsAndUnsupportedStreamsSaySo) {
  auto c = apiServer();
  EXPECT_EQ(c->request("GET", "/nothing")->status, 404);
  auto pf = c->request("GET", "/portForward/default/web");
  EXPECT_EQ(pf->status, 400) << "port-forward is only served as SPDY tunnelled in a WebSocket";
  EXPECT_NE(pf->body.find("SPDY/3.1+portforward.k8s.io"), std::string::npos) << pf->body;
  EXPECT_EQ(c->request("POST", "/pods")->status, 405);
}

// The API server's side: it finds the node server through the Node object, checks its
// certificate against the CA and presents its client identity.
class NodeClientTest : public NodeServerTest {
 protected:
  void SetUp() override {
    NodeServerTest::SetUp();
    auto s = store::openSqliteStore({(dir_ / "store.db").string()});
    ASSERT_TRUE(s.ok());
    store_ = std::move(*s);
    registry_ = std::make_unique<apiserver::Registry>(*store_);
    ASSERT_TRUE(registry_->bootstrap().ok());
    nodes_ = std::make_unique<apiserver::NodeClient>(*registry_, apiserver::NodeClientOptions{ca_.certPem(), [ca = ca_] {
      return ca.issueCertificate({kApiServerClientName, "system:masters", {}, false, true});
    }});
  }
  void TearDown() override {
    nodes_.reset();
    registry_.reset();
    store_.reset();
    NodeServerTest::TearDown();
  }
  void addNode(const std::string& name, int port) {
    json::value node = json::parse(R"({"apiVersion":"v1","kind":"Node","metadata":{"name":")" + name + R"("},"status":{"addresses":[
        {"type":"InternalIP","address":"127.0.0.1"},{"type":"Hostname","address":")" + name + R"("}],
        "daemonEndpoints":{"kubeletEndpoint":{"Port":)" + std::to_string(port) + "}}}}");
    ASSERT_TRUE(registry_->create(*api::findByKind("v1", "Node"), "", node).ok());
  }
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<apiserver::Registry> registry_;
  std::unique_ptr<apiserver::NodeClient> nodes_;
};

TEST_F(NodeClientTest, ReadsUsageAndRequestRatesFromEveryNode) {
  addNode("n1", server_->port());
  auto usage = nodes_->usage();
  ASSERT_EQ(usage.size(), 1u);
  EXPECT_EQ(usage[0].node, "n1");
  EXPECT_DOUBLE_EQ(usage[0].cpuCores, 1.5);
  ASSERT_EQ(usage[0].pods.size(), 1u);
  EXPECT_EQ(usage[0].pods[0].name, "web");
  EXPECT_DOUBLE_EQ(usage[0].pods[0].containers[0].cpuCores, 0.25);
  apiserver::NodeRequests requests = nodes_->requests();
  EXPECT_DOUBLE_EQ(requests.podRequestRates["default/web"], 2.5);
  EXPECT_EQ(requests.requests, 10u);
}

TEST_F(NodeClientTest, SaysWhichNodeCannotBeReached) {
  // A port nothing listens on: bind one, note it, close it.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  addNode("gone", ntohs(a.sin_port));
  auto r = nodes_->get("gone", "/healthz");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, 503);
  EXPECT_NE(r.error().message.find("cannot reach the node server of gone at 127.0.0.1:"), std::string::npos) << r.error().message;
  auto missing = nodes_->get("nowhere", "/healthz");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, 404);
}

// Just enough of an exchange to see what the relay answers with.
class AnswerOnly final : public http::Exchange {
 public:
  const http::Request& request() const override { return request_; }
  void respond(http::Response r) override { response = std::move(r); }
  http::Stream& startStream(int, std::string, http::Headers) override { throw std::logic_error("no stream expected"); }
  std::shared_ptr<http::EventStream> startEventStream(int, std::string, http::EventStreamOptions) override { return nullptr; }
  bool writeDirect(std::string_view) override { return false; }
  Result<http::WebSocket*> upgradeToWebSocket(const std::vector<std::string>&) override { return Error::badRequest("no"); }
  http::Request request_;
  http::Response response;
};

// A node that refuses the API server's certificate is a fault between the two (502): relayed as
// a 401, kubectl would tell the user to log in again.
TEST_F(NodeClientTest, ANodeRefusingTheApiServerIsABadGateway) {
  addNode("n1", server_->port());
  apiserver::NodeClient impostor(*registry_, apiserver::NodeClientOptions{ca_.certPem(), [ca = ca_] {
    return ca.issueCertificate({"someone-else", "", {}, false, true});
  }});
  AnswerOnly ex;
  impostor.forward(ex, "n1", "/pods", false);
  EXPECT_EQ(ex.response.status, 502);
  EXPECT_NE(ex.response.body.find("the node server of n1 refused the API server's client certificate"), std::string::npos) << ex.response.body;
  AnswerOnly ok;
  nodes_->forward(ok, "n1", "/pods", false);
  EXPECT_EQ(ok.response.status, 200);
  EXPECT_NE(ok.response.body.find("PodList"), std::string::npos);
}

TEST(MergeExpositions, KeepsEachFamilysHeaderOnce) {
  std::string a = "# HELP x_total X.\n# TYPE x_total counter\nx_total{node=\"a\"} 1\n";
  std::string b = "# HELP x_total X.\n# TYPE x_total counter\nx_total{node=\"b\"} 2\n";
  EXPECT_EQ(apiserver::mergeExpositions({a, b}), "# HELP x_total X.\n# TYPE x_total counter\nx_total{node=\"a\"} 1\nx_total{node=\"b\"} 2\n");
}

TEST(LastLines, CountsFromTheEnd) {
  EXPECT_EQ(lastLines("a\nb\nc\n", 2), "b\nc\n");
  EXPECT_EQ(lastLines("a\nb\nc", 1), "c");
  EXPECT_EQ(lastLines("a\nb\n", 5), "a\nb\n");
  EXPECT_EQ(lastLines("a\nb\n", 0), "");
}

}  // namespace skiff::agent
