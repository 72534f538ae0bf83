// mTLS between two node proxies, each in its own network namespace (a "node") joined by a veth
// pair: pods on node B are reachable from node A only through B's mesh port. Real sockets, real
// TLS, certificates from a real CA; route tables built by the RouteBuilder from the objects the
// API would hold. Needs root (network namespaces); skipped otherwise.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <condition_variable>
#include <csignal>
#include <deque>
#include <filesystem>
#include <functional>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "observe/metrics.h"
#include "pki/pki.h"
#include "proxy/http_proxy.h"
#include "proxy/route_builder.h"
#include "proxy_test_support.h"

namespace skiff::proxy::mesh_test {

bool sh(const std::string& command) { return std::system((command + " >/dev/null 2>&1").c_str()) == 0; }

// Two network namespaces joined by a veth pair (node IPs 10.231.0.1 and .2). Pod addresses sit
// on each namespace's loopback, so nothing routes from one node to the other's pods.
struct TwoNodes {
  std::string a, b;
  bool ok = false;
  TwoNodes() {
    // Namespaces left by a run that was killed (a timeout) are removed first.
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/var/run/netns", ec)) {
      std::string name = e.path().filename().string();
      if (!name.starts_with("skiff-mesh-")) continue;
      int pid = std::atoi(name.c_str() + name.rfind('-') + 1);
      if (pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH) sh("ip netns del " + name);
    }
    std::string tag = std::to_string(getpid());
    a = "skiff-mesh-a-" + tag;
    b = "skiff-mesh-b-" + tag;
    std::string va = "smA" + tag, vb = "smB" + tag;
    ok = sh("ip netns add " + a) && sh("ip netns add " + b) && sh("ip link add " + va + " type veth peer name " + vb) &&
         sh("ip link set " + va + " netns " + a) && sh("ip link set " + vb + " netns " + b) &&
         sh("ip -n " + a + " addr add 10.231.0.1/24 dev " + va) && sh("ip -n " + b + " addr add 10.231.0.2/24 dev " + vb) &&
         sh("ip -n " + a + " link set " + va + " up") && sh("ip -n " + b + " link set " + vb + " up") &&
         sh("ip -n " + a + " link set lo up") && sh("ip -n " + b + " link set lo up") &&
         sh("ip -n " + a + " addr add 198.18.231.1/32 dev lo") &&  // pod frontend (sa frontend)
         sh("ip -n " + a + " addr add 198.18.231.3/32 dev lo") &&  // pod intruder (sa intruder)
         sh("ip -n " + a + " addr add 10.96.231.10/32 dev lo") &&  // Service catalog's cluster IP
         sh("ip -n " + b + " addr add 10.96.231.10/32 dev lo") &&  // (every node serves every cluster IP)
         sh("ip -n " + b + " addr add 198.18.231.2/32 dev lo");    // pod catalog (sa catalog)
  }
  ~TwoNodes() {
    sh("ip netns del " + a);  // takes the veth pair with it
    sh("ip netns del " + b);
  }
};

// A thread that lives in a network namespace and runs what it is given; threads it starts (the
// proxy's workers, backends) are born in that namespace too.
class InNetns {
 public:
  explicit InNetns(const std::string& ns) {
    thread_ = std::thread([this, ns] {
      int fd = ::open(("/var/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
      entered_ = fd >= 0 && setns(fd, CLONE_NEWNET) == 0;
      if (fd >= 0) ::close(fd);
      for (;;) {
        std::function<void()> task;
        {
          std::unique_lock lock(mutex_);
          cv_.wait(lock, [this] { return stop_ || !tasks_.empty(); });
          if (tasks_.empty()) return;
          task = std::move(tasks_.front());
          tasks_.pop_front();
        }
        task();
      }
    });
  }
  ~InNetns() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  template <class F>
  auto run(F f) -> decltype(f()) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto result = task.get_future();
    {
      std::lock_guard lock(mutex_);
      tasks_.push_back([&task] { task(); });
    }
    cv_.notify_one();
    return result.get();
  }
  bool entered() { return run([this] { return entered_; }); }

 private:
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stop_ = false;
  bool entered_ = false;
};

// A pod's server: answers every HTTP request with `name` (keep-alive), or echoes bytes (echo).
class PodServer {
 public:
  PodServer(const std::string& ip, int port, std::string name, bool echo) : name_(std::move(name)), echo_(echo) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(port));
    inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
    ok_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::listen(fd_, 64) == 0;
    accepter_ = std::thread([this] { acceptLoop(); });
  }
  ~PodServer() {
    ::shutdown(fd_, SHUT_RDWR);
    accepter_.join();
    ::close(fd_);
    {
      std::lock_guard lock(mutex_);
      for (int c : open_) ::shutdown(c, SHUT_RDWR);
    }
    // Joined without the lock: each connection's thread takes it to say it has finished.
    for (auto& t : connections_) t.join();
  }
  bool ok() const { return ok_; }

 private:
  void acceptLoop() {
    for (;;) {
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      timeval tv{10, 0};
      ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      std::lock_guard lock(mutex_);
      open_.insert(c);
      connections_.emplace_back([this, c] { serve(c); });
    }
  }
  void serve(int c) {
    std::string in;
    char buf[16384];
    for (;;) {
      ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      if (echo_) {
        if (::send(c, buf, size_t(n), MSG_NOSIGNAL) != n) break;
        continue;
      }
      in.append(buf, size_t(n));
      size_t end;
      while ((end = in.find("\r\n\r\n")) != std::string::npos) {
        in.erase(0, end + 4);
        std::string reply = "HTTP/1.1 200 OK\r\ncontent-length: " + std::to_string(name_.size()) + "\r\n\r\n" + name_;
        ::send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
      }
    }
    std::lock_guard lock(mutex_);
    open_.erase(c);
    ::close(c);
  }

  std::string name_;
  bool echo_;
  int fd_ = -1;
  bool ok_ = false;
  std::thread accepter_;
  std::mutex mutex_;
  std::set<int> open_;
  std::vector<std::thread> connections_;
};

// Connects from `source` (a pod's address, or a node's) to ip:port; -1 when it cannot.
int dial(const std::string& source, const std::string& ip, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in from{}, to{};
  from.sin_family = to.sin_family = AF_INET;
  inet_pton(AF_INET, source.c_str(), &from.sin_addr);
  inet_pton(AF_INET, ip.c_str(), &to.sin_addr);
  to.sin_port = htons(uint16_t(port));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// One GET through node A's proxy from `source`: "<status> <body>", or "" when nothing came back.
std::string get(const std::string& source, const std::string& path = "/") {
  int fd = -1;
  for (int i = 0; i < 200 && fd < 0; ++i) {  // the listener opens asynchronously
    fd = dial(source, "10.96.231.10", 80);
    if (fd < 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (fd < 0) return "";
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: catalog.shop\r\nConnection: close\r\n\r\n";
  ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string resp;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) resp.append(buf, size_t(n));
  ::close(fd);
  if (resp.size() < 12) return "";
  size_t body = resp.find("\r\n\r\n");
  return resp.substr(9, 3) + " " + (body == std::string::npos ? "" : resp.substr(body + 4));
}

// One HTTP/2 GET (h2c prior knowledge, as gRPC clients speak) from `source` to ip:port:
// ":status location", or "" when no answer came.
std::string h2Get(const std::string& source, const std::string& ip, int port) {
  int fd = -1;
  for (int i = 0; i < 200 && fd < 0; ++i) {
    fd = dial(source, ip, port);
    if (fd < 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  proxytest::H2Answer a = proxytest::h2RequestOn(fd, "GET", "/items", "", nullptr, "catalog.shop");
  return a.headers.count(":status") ? a.headers[":status"] + " " + a.headers["location"] : "";
}

using Objects = std::vector<std::shared_ptr<const boost::json::value>>;
Objects parse(std::initializer_list<const char*> docs) {
  Objects out;
  for (const char* d : docs) out.push_back(std::make_shared<const boost::json::value>(boost::json::parse(d)));
  return out;
}

RouteSources cluster(bool withPolicy) {
  RouteSources s;
  s.services = parse({R"({"metadata":{"namespace":"shop","name":"catalog"},"spec":{"clusterIP":"10.96.231.10","ports":[
      {"name":"http","port":80,"targetPort":8080},{"name":"tcp-echo","port":9000,"targetPort":9000},
      {"name":"grpc","port":8082,"targetPort":8082}]}})"});
  s.endpoints = parse({R"({"metadata":{"namespace":"shop","name":"catalog"},"subsets":[{"addresses":[
      {"ip":"198.18.231.2","nodeName":"node-b","targetRef":{"kind":"Pod","namespace":"shop","name":"catalog-0"}}],
      "ports":[{"name":"http","port":8080},{"name":"tcp-echo","port":9000},{"name":"grpc","port":8082}]}]})"});
  s.pods = parse({R"({"metadata":{"namespace":"shop","name":"frontend-0"},"spec":{"nodeName":"node-a","serviceAccountName":"frontend"},"status":{"podIP":"198.18.231.1"}})",
                  R"({"metadata":{"namespace":"shop","name":"intruder-0"},"spec":{"nodeName":"node-a","serviceAccountName":"intruder"},"status":{"podIP":"198.18.231.3"}})",
                  R"({"metadata":{"namespace":"shop","name":"catalog-0"},"spec":{"nodeName":"node-b","serviceAccountName":"catalog"},"status":{"podIP":"198.18.231.2"}})"});
  s.nodes = parse({R"({"metadata":{"name":"node-a"},"status":{"addresses":[{"type":"InternalIP","address":"10.231.0.1"}]}})",
                   R"({"metadata":{"name":"node-b"},"status":{"addresses":[{"type":"InternalIP","address":"10.231.0.2"}]}})"});
  if (withPolicy)
    s.authorizationPolicies = parse({R"({"metadata":{"namespace":"shop","name":"catalog-callers"},"spec":{"action":"ALLOW","rules":[
        {"from":[{"source":{"principals":["cluster.local/ns/shop/sa/frontend"]}}],"to":[{"operation":{"methods":["GET"],"paths":["/items*"]}}]}]}})"});
  return s;
}

double metric(const std::string& series) {
  std::string text = observe::exposition();
  size_t at = text.find(series + " ");
  return at == std::string::npos ? 0 : std::atof(text.c_str() + at + series.size() + 1);
}

class Mesh : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root for network namespaces";
    nodes_ = std::make_unique<TwoNodes>();
    ASSERT_TRUE(nodes_->ok) << "cannot set up the two network namespaces";
    a_ = std::make_unique<InNetns>(nodes_->a);
    b_ = std::make_unique<InNetns>(nodes_->b);
    ASSERT_TRUE(a_->entered() && b_->entered());
    auto ca = pki::CertificateAuthority::ephemeral();
    ASSERT_TRUE(ca);
    ca_ = std::make_unique<pki::CertificateAuthority>(*ca);
    pod_ = b_->run([] { return std::make_unique<PodServer>("198.18.231.2", 8080, "catalog-0 on node-b", false); });
    echo_ = b_->run([] { return std::make_unique<PodServer>("198.18.231.2", 9000, "", true); });
    ASSERT_TRUE(pod_->ok() && echo_->ok());
    ProxyOptions options;
    options.workers = 1;
    proxyA_ = a_->run([&] {
      auto p = std::make_unique<HttpProxy>(options);
      (void)p->start();
      return p;
    });
    proxyB_ = b_->run([&] {
      auto p = std::make_unique<HttpProxy>(options);
      (void)p->start();
      return p;
    });
  }
  void TearDown() override {
    if (a_) a_->run([&] { proxyA_.reset(); });
    if (b_) b_->run([&] {
        proxyB_.reset();
        pod_.reset();
        echo_.reset();
      });
    a_.reset();
    b_.reset();
    nodes_.reset();
  }

  MeshOptions meshFor(const std::string& node, std::chrono::seconds lifetime = std::chrono::seconds(3600)) {
    MeshOptions m;
    m.nodeName = node;
    m.lifetime = lifetime;
    m.issue = [this](const std::string& id, std::chrono::seconds life) {
      auto r = ca_->issue(id, life);
      if (r) {
        std::lock_guard lock(issuedMutex_);
        issued_.push_back(r->spiffeId + " " + r->serial);
      }
      return r;
    };
    return m;
  }
  void install(InNetns& ns, HttpProxy& proxy, RouteBuilder& builder, const RouteSources& sources) {
    auto result = builder.build(sources, Clock::now());
    ASSERT_TRUE(builder.meshError().empty()) << builder.meshError();
    std::shared_ptr<const RouteTable> table = result.table;
    ns.run([&] { proxy.update(table); });
  }
  std::string getFrom(const std::string& source, const std::string& path = "/items") {
    return a_->run([&] { return get(source, path); });
  }

  std::unique_ptr<TwoNodes> nodes_;
  std::unique_ptr<InNetns> a_, b_;
  std::unique_ptr<pki::CertificateAuthority> ca_;
  std::unique_ptr<PodServer> pod_, echo_;
  std::unique_ptr<HttpProxy> proxyA_, proxyB_;
  std::mutex issuedMutex_;
  std::vector<std::string> issued_;
};

TEST_F(Mesh, PodsOnAnotherNodeAreReachedOverMutualTls) {
  RouteBuilder builderA, builderB;
  builderA.setMesh(meshFor("node-a"));
  builderB.setMesh(meshFor("node-b"));
  install(*a_, *proxyA_, builderA, cluster(false));
  install(*b_, *proxyB_, builderB, cluster(false));
  // Node A has no route to node B's pods: only the mesh gets there.
  EXPECT_EQ(a_->run([] { return dial("198.18.231.1", "198.18.231.2", 8080); }), -1);
  double established = metric(R"(skiff_mesh_connections_total{direction="outbound",result="established"})");
  double forwarded = metric(R"(skiff_mesh_connections_total{direction="inbound",result="forwarded"})");
  EXPECT_EQ(getFrom("198.18.231.1"), "200 catalog-0 on node-b");
  EXPECT_EQ(getFrom("10.231.0.1"), "200 catalog-0 on node-b");  // a caller that is not a pod: the node's identity
  EXPECT_GE(metric(R"(skiff_mesh_connections_total{direction="outbound",result="established"})"), established + 1);
  EXPECT_GE(metric(R"(skiff_mesh_connections_total{direction="inbound",result="forwarded"})"), forwarded + 1);
  // Identities issued: node A, its pods' service accounts; node B and its pod's.
  std::string all;
  for (const auto& i : issued_) all += i + "\n";
  for (const char* id : {"spiffe://cluster.local/node/node-a ", "spiffe://cluster.local/ns/shop/sa/frontend ",
                         "spiffe://cluster.local/ns/shop/sa/intruder ", "spiffe://cluster.local/node/node-b ",
                         "spiffe://cluster.local/ns/shop/sa/catalog "})
    EXPECT_NE(all.find(id), std::string::npos) << id << " not in\n" << all;
  // A TCP port goes through the same tunnel, bytes both ways.
  std::string echoed = a_->run([] {
    int fd = -1;
    for (int i = 0; i < 200 && fd < 0; ++i) {
      fd = dial("198.18.231.1", "10.96.231.10", 9000);
      if (fd < 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (fd < 0) return std::string("no connection");
    std::string big(300000, 'x');
    for (size_t i = 0; i < big.size(); i += 997) big[i] = char('a' + i % 26);
    std::thread writer([fd, &big] {
      size_t sent = 0;
      while (sent < big.size()) {
        ssize_t n = ::send(fd, big.data() + sent, big.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) return;
        sent += size_t(n);
      }
      ::shutdown(fd, SHUT_WR);
    });
    std::string got;
    char buf[65536];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) got.append(buf, size_t(n));
    writer.join();
    ::close(fd);
    return got == big ? std::string("same") : "got " + std::to_string(got.size()) + " bytes";
  });
  EXPECT_EQ(echoed, "same");
}

TEST_F(Mesh, Http2CrossesNodesOnOneMultiplexedTunnel) {
  // The pod on node B speaks HTTP/2: a third proxy plays it, answering every request itself.
  ProxyOptions options;
  options.workers = 1;
  auto podH2 = b_->run([&] {
    auto p = std::make_unique<HttpProxy>(options);
    (void)p->start();
    auto t = std::make_shared<RouteTable>();
    Listener l;
    l.ip = "198.18.231.2";
    l.port = 8082;
    l.key = "198.18.231.2:8082";
    l.name = "pod catalog-0 (h2c)";
    Route r;
    r.name = "catalog-0";
    r.redirectStatus = 307;
    r.redirectHost = "answered-by-catalog-0";
    l.hosts.push_back(VirtualHost{{}, {r}});
    t->listeners.push_back(l);
    p->update(t);
    return p;
  });
  RouteBuilder builderA, builderB;
  builderA.setMesh(meshFor("node-a"));
  builderB.setMesh(meshFor("node-b"));
  install(*a_, *proxyA_, builderA, cluster(false));
  install(*b_, *proxyB_, builderB, cluster(false));
  double established = metric(R"(skiff_mesh_connections_total{direction="outbound",result="established"})");
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(a_->run([] { return h2Get("198.18.231.1", "10.96.231.10", 8082); }), "307 http://answered-by-catalog-0:8082/items");
  // Three calls, one HTTP/2 connection from node A's worker to the pod, so one tunnel.
  EXPECT_EQ(metric(R"(skiff_mesh_connections_total{direction="outbound",result="established"})"), established + 1);
  // Node B's policy refuses the intruder's tunnel: the gRPC caller hears 403 (PERMISSION_DENIED), not 503.
  install(*b_, *proxyB_, builderB, cluster(true));
  EXPECT_EQ(a_->run([] { return h2Get("198.18.231.3", "10.96.231.10", 8082); }), "403 ");
  EXPECT_EQ(a_->run([] { return h2Get("198.18.231.1", "10.96.231.10", 8082); }), "307 http://answered-by-catalog-0:8082/items");
  b_->run([&] { podH2.reset(); });
}

TEST_F(Mesh, TheDestinationNodeAuthorizesByTheCallersCertificate) {
  RouteBuilder builderA, builderB;
  builderA.setMesh(meshFor("node-a"));
  builderB.setMesh(meshFor("node-b"));
  // Node A has not seen the policy yet (or ignores it): node B must still refuse.
  install(*a_, *proxyA_, builderA, cluster(false));
  install(*b_, *proxyB_, builderB, cluster(true));
  double denied = metric(R"(skiff_mesh_connections_total{direction="inbound",result="denied"})");
  EXPECT_EQ(getFrom("198.18.231.1"), "200 catalog-0 on node-b");  // sa frontend: allowed
  EXPECT_EQ(getFrom("198.18.231.3").substr(0, 4), "403 ");         // sa intruder: refused at node B
  EXPECT_EQ(getFrom("10.231.0.1").substr(0, 4), "403 ");           // the node itself is not frontend
  EXPECT_GE(metric(R"(skiff_mesh_connections_total{direction="inbound",result="denied"})"), denied + 2);
  // With the policy on both nodes, A decides the request-level rules (method, path) it parsed.
  install(*a_, *proxyA_, builderA, cluster(true));
  EXPECT_EQ(getFrom("198.18.231.1", "/items/7"), "200 catalog-0 on node-b");
  EXPECT_EQ(getFrom("198.18.231.1", "/admin").substr(0, 4), "403 ");
}

TEST_F(Mesh, CertificatesFromAnotherCaOrExpiredOnesAreRefused) {
  RouteBuilder builderA, builderB;
  builderB.setMesh(meshFor("node-b"));
  install(*b_, *proxyB_, builderB, cluster(false));
  // Node A with a CA node B does not trust.
  auto rogue = pki::CertificateAuthority::ephemeral();
  ASSERT_TRUE(rogue);
  MeshOptions m = meshFor("node-a");
  m.issue = [ca = *rogue](const std::string& id, std::chrono::seconds life) { return ca.issue(id, life); };
  builderA.setMesh(m);
  install(*a_, *proxyA_, builderA, cluster(false));
  double failed = metric(R"(skiff_mesh_connections_total{direction="inbound",result="handshake_failed"})");
  EXPECT_EQ(getFrom("198.18.231.1").substr(0, 4), "503 ");
  EXPECT_GE(metric(R"(skiff_mesh_connections_total{direction="inbound",result="handshake_failed"})") +
                metric(R"(skiff_mesh_connections_total{direction="outbound",result="failed"})"),
            failed + 1);
  // The right CA, but certificates that expire in three seconds and are never renewed (one
  // second was too short under the sanitizer with the suite running beside it: they expired
  // before the first request).
  RouteBuilder stale;
  stale.setMesh(meshFor("node-a", std::chrono::seconds(3)));
  install(*a_, *proxyA_, stale, cluster(false));
  EXPECT_EQ(getFrom("198.18.231.1"), "200 catalog-0 on node-b");
  std::this_thread::sleep_for(std::chrono::milliseconds(3100));
  proxyA_ = a_->run([] {  // a fresh proxy: no pooled connection from before expiry
    ProxyOptions options;
    options.workers = 1;
    auto p = std::make_unique<HttpProxy>(options);
    (void)p->start();
    return p;
  });
  auto table = stale.build(cluster(false), Clock::now() - std::chrono::hours(1));  // "before" renewal time: keeps the old ones
  std::shared_ptr<const RouteTable> t = table.table;
  a_->run([&] { proxyA_->update(t); });
  EXPECT_EQ(getFrom("198.18.231.1").substr(0, 4), "503 ");
}

TEST_F(Mesh, CertificatesAreRenewedAtHalfLifeWithoutFailingRequests) {
  RouteBuilder builderA, builderB;
  builderA.setMesh(meshFor("node-a", std::chrono::seconds(2)));
  builderB.setMesh(meshFor("node-b", std::chrono::seconds(2)));
  install(*a_, *proxyA_, builderA, cluster(false));
  install(*b_, *proxyB_, builderB, cluster(false));
  // Like the node proxy's loop: rebuild when a renewal is due; keep calling meanwhile. After
  // 3.5 s every original certificate has expired, so success means the renewed ones are in use.
  auto end = Clock::now() + std::chrono::milliseconds(3500);
  int ok = 0, failed = 0;
  while (Clock::now() < end) {
    if (Clock::now() >= builderA.nextRenewal()) install(*a_, *proxyA_, builderA, cluster(false));
    if (Clock::now() >= builderB.nextRenewal()) install(*b_, *proxyB_, builderB, cluster(false));
    (getFrom("198.18.231.1") == "200 catalog-0 on node-b" ? ok : failed)++;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(failed, 0);
  EXPECT_GT(ok, 20);
  std::set<std::string> frontendSerials;
  for (const auto& i : issued_)
    if (i.starts_with("spiffe://cluster.local/ns/shop/sa/frontend ")) frontendSerials.insert(i);
  EXPECT_GE(frontendSerials.size(), 3u);  // issued, then renewed at 1 s, 2 s, 3 s
}

}  // namespace skiff::proxy::mesh_test
