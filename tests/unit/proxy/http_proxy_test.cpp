// The node proxy's data plane against real sockets: small blocking HTTP backends on loopback,
// requests written by hand, route tables built in the test.
#include "proxy/http_proxy.h"
#include "proxy/request_mirror.h"
#include "observe/metrics.h"
#include "proxy_test_support.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

namespace skiff::proxy {
namespace {

using namespace proxytest;

TEST(HttpProxy, ForwardsOverKeepAliveAndReusesUpstreamConnections) {
  Backend be([](const Message& m) { return Backend::Reply{200, "hello " + m.head.substr(0, m.head.find(' '))}; });
  Fixture f({cluster("web", {be.port()})}, {routeTo({{0, 1}})});
  int fd = connectTo(f.port);
  ASSERT_GE(fd, 0);
  std::string buf;
  for (int i = 0; i < 50; ++i) {
    sendAll(fd, "GET /x HTTP/1.1\r\nHost: shop\r\nX-Forwarded-For: 10.0.0.9\r\n\r\n");
    Message m;
    ASSERT_TRUE(readMessage(fd, buf, m));
    EXPECT_EQ(m.status, 200);
    EXPECT_EQ(m.body, "hello GET");
  }
  close(fd);
  EXPECT_EQ(be.accepted(), 1);  // one upstream connection for 50 requests
  Message seen = be.last();
  EXPECT_EQ(seen.header("x-forwarded-for"), "10.0.0.9, 127.0.0.1");
  std::string tp = seen.header("traceparent");
  ASSERT_EQ(tp.size(), 55u) << tp;
  EXPECT_TRUE(tp.starts_with("00-"));
}

TEST(HttpProxy, ContinuesTheCallersTrace) {
  Backend be([](const Message&) { return Backend::Reply{}; });
  Fixture f({cluster("web", {be.port()})}, {routeTo({{0, 1}})});
  f.get("/", "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n");
  std::string tp = be.last().header("traceparent");
  EXPECT_TRUE(tp.starts_with("00-0af7651916cd43dd8448eb211c80319c-")) << tp;
  EXPECT_EQ(tp.find("b7ad6b7169203331"), std::string::npos) << "the proxy's own span is the new parent";
}

TEST(HttpProxy, RequestAndResponseBodies) {
  Backend be([](const Message& m) {
    Backend::Reply r;
    r.body = "got:" + m.body;
    r.chunked = m.head.find("/chunked") != std::string::npos;
    return r;
  });
  Fixture f({cluster("web", {be.port()})}, {routeTo({{0, 1}})});
  int fd = connectTo(f.port);
  std::string buf;
  Message m;
  sendAll(fd, "POST /len HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello");
  ASSERT_TRUE(readMessage(fd, buf, m));
  EXPECT_EQ(m.body, "got:hello");
  sendAll(fd, "POST /chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  ASSERT_TRUE(readMessage(fd, buf, m));
  EXPECT_EQ(m.header("transfer-encoding"), "chunked");
  EXPECT_EQ(m.body, "got:abcde");
  // Expect: 100-continue is answered by the proxy before the body.
  sendAll(fd, "POST /len HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n");
  ASSERT_TRUE(readMessage(fd, buf, m));
  EXPECT_EQ(m.status, 100);
  sendAll(fd, "ok");
  ASSERT_TRUE(readMessage(fd, buf, m));
  EXPECT_EQ(m.body, "got:ok");
  close(fd);
}

TEST(HttpProxy, WeightedCanarySplitIsExactWithinAPercent) {
  Backend v1([](const Message&) { return Backend::Reply{200, "v1"}; });
  Backend v2([](const Message&) { return Backend::Reply{200, "v2"}; });
  Fixture f({cluster("v1", {v1.port()}), cluster("v2", {v2.port()})}, {routeTo({{0, 90}, {1, 10}})});
  int fd = connectTo(f.port);
  std::string buf;
  std::map<std::string, int> seen;
  for (int i = 0; i < 10000; ++i) {
    sendAll(fd, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    Message m;
    ASSERT_TRUE(readMessage(fd, buf, m));
    ++seen[m.body];
  }
  close(fd);
  EXPECT_NEAR(seen["v2"], 1000, 100) << "v1=" << seen["v1"] << " v2=" << seen["v2"];
  EXPECT_EQ(seen["v1"] + seen["v2"], 10000);
}

TEST(HttpProxy, RetriesAnotherEndpointAndEjectsTheFailingOne) {
  Backend bad([](const Message&) { return Backend::Reply{503, "down"}; });
  Backend good([](const Message&) { return Backend::Reply{200, "up"}; });
  Cluster c = cluster("web", {bad.port(), good.port()});
  c.retry.attempts = 2;
  c.retry.onGatewayError = true;
  c.retry.backoffBase = std::chrono::milliseconds(0);
  c.outlier.enabled = true;
  c.outlier.consecutiveErrors = 3;
  Fixture f({c}, {routeTo({{0, 1}})});
  for (int i = 0; i < 40; ++i) {
    Message m = f.get("/");
    ASSERT_EQ(m.status, 200) << i;
    EXPECT_EQ(m.body, "up");
  }
  // After three errors in a row the bad endpoint is out of rotation for 30 s.
  EXPECT_EQ(bad.requests(), 3);
}

TEST(HttpProxy, RetryOnConnectFailure) {
  Backend good([](const Message&) { return Backend::Reply{200, "up"}; });
  Cluster c = cluster("web", {freePort(), good.port()});  // the first endpoint refuses
  c.retry.attempts = 1;
  c.retry.backoffBase = std::chrono::milliseconds(0);
  Fixture f({c}, {routeTo({{0, 1}})});
  for (int i = 0; i < 10; ++i) EXPECT_EQ(f.get("/").status, 200);
}

TEST(HttpProxy, CircuitBreakerOverflowsWith503) {
  Backend slow([](const Message&) { return Backend::Reply(200, "slow", 400); });
  Cluster c = cluster("web", {slow.port()});
  c.limits.maxConnections = 1;
  c.limits.maxPendingRequests = 0;
  Fixture f({c}, {routeTo({{0, 1}})});
  Message first, second;
  std::thread t([&] { first = f.get("/"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  second = f.get("/");
  t.join();
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(second.status, 503);
  EXPECT_EQ(second.header("x-skiff-overloaded"), "true");
}

TEST(HttpProxy, RouteTimeoutAnswers504) {
  Backend slow([](const Message&) { return Backend::Reply(200, "late", 1500); });
  Route r = routeTo({{0, 1}});
  r.timeout = std::chrono::milliseconds(150);
  Fixture f({cluster("web", {slow.port()})}, {r});
  Message m = f.get("/");
  EXPECT_EQ(m.status, 504);
  EXPECT_NE(m.body.find("timeout"), std::string::npos);
}

TEST(HttpProxy, ClearStatusesForBadRequestsAndMissingBackends) {
  Backend be([](const Message&) { return Backend::Reply{}; });
  Route only = routeTo({{0, 1}});
  only.matches.push_back(RouteMatch{RouteMatch::Path::kPrefix, "/shop", nullptr, "", {}, {}});
  Route missing = routeTo({{-1, 1}});
  missing.matches.push_back(RouteMatch{RouteMatch::Path::kPrefix, "/gone", nullptr, "", {}, {}});
  Route empty = routeTo({{1, 1}});
  empty.matches.push_back(RouteMatch{RouteMatch::Path::kPrefix, "/empty", nullptr, "", {}, {}});
  ProxyOptions o;
  o.headerTimeout = std::chrono::milliseconds(200);
  Fixture f({cluster("web", {be.port()}), cluster("none", {})}, {only, missing, empty}, o);
  EXPECT_EQ(f.get("/shop/cart").status, 200);
  EXPECT_EQ(f.get("/shopping").status, 404);
  EXPECT_EQ(f.get("/gone").status, 500);
  EXPECT_EQ(f.get("/empty").status, 503);
  // Malformed, oversized, and too slow.
  auto raw = [&](const std::string& bytes) {
    int fd = connectTo(f.port);
    sendAll(fd, bytes);
    std::string buf;
    Message m;
    readMessage(fd, buf, m);
    close(fd);
    return m.status;
  };
  EXPECT_EQ(raw("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
  EXPECT_EQ(raw("GET /shop HTTP/1.1\r\nHost: a\r\nX: " + std::string(80 * 1024, 'x') + "\r\n\r\n"), 431);
  EXPECT_EQ(raw("GET /shop HTTP/1.1\r\nHost: a\r\n"), 408);  // the head never completes
  // The proxy still serves everyone else.
  EXPECT_EQ(f.get("/shop").status, 200);
}

TEST(HttpProxy, WebSocketUpgradeBecomesATunnel) {
  Backend be([](const Message&) {
    Backend::Reply r;
    r.upgradeEcho = true;
    return r;
  });
  Fixture f({cluster("web", {be.port()})}, {routeTo({{0, 1}})});
  int fd = connectTo(f.port);
  sendAll(fd, "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
  std::string buf;
  Message m;
  ASSERT_TRUE(readMessage(fd, buf, m));
  EXPECT_EQ(m.status, 101);
  EXPECT_EQ(m.header("upgrade"), "websocket");
  sendAll(fd, "ping-frame");
  while (buf.size() < 10) {
    char tmp[64];
    ssize_t n = recv(fd, tmp, sizeof tmp, 0);
    ASSERT_GT(n, 0);
    buf.append(tmp, size_t(n));
  }
  EXPECT_EQ(buf, "ping-frame");
  close(fd);
}

TEST(HttpProxy, TlsPassthroughPicksTheBackendByServerNameAndPassesTheHelloUntouched) {
  // Two "TLS servers" that report who they are and what they were sent first.
  struct Backend {
    int port = 0, fd = -1;
    std::string first;
    std::thread thread;
  };
  Backend a, b;
  for (Backend* be : {&a, &b}) {
    be->fd = listenOn(be->port);
    be->thread = std::thread([be, name = be == &a ? "A" : "B"] {
      int c = accept(be->fd, nullptr, nullptr);
      char tmp[8192];
      ssize_t n;
      while ((n = recv(c, tmp, sizeof tmp, 0)) > 0) {
        be->first.append(tmp, size_t(n));
        if (be->first.find("END") != std::string::npos) break;
      }
      sendAll(c, name);
      close(c);
    });
  }
  ProxyOptions one;
  one.workers = 1;
  one.headerTimeout = std::chrono::milliseconds(300);
  HttpProxy proxy(one);
  ASSERT_TRUE(proxy.start());
  auto t = std::make_shared<RouteTable>();
  t->clusters.push_back(cluster("a", {a.port}));
  t->clusters.push_back(cluster("b", {b.port}));
  Listener l;
  l.ip = "127.0.0.1";
  l.port = freePort();
  l.key = "127.0.0.1:" + std::to_string(l.port);
  l.protocol = Listener::Protocol::kTls;
  l.name = "gateway test/edge/tls";
  VirtualHost exact, wildcard;
  exact.hostnames = {"a.example"};
  exact.routes = {routeTo({{0, 1}})};
  wildcard.hostnames = {"*.b.example"};
  wildcard.routes = {routeTo({{1, 1}})};
  l.hosts = {exact, wildcard};
  t->listeners.push_back(l);
  proxy.update(t);
  auto answer = [&](const std::string& hello, bool split) {
    int fd = connectWhenListening(l.port);
    if (fd < 0) return std::string("connect failed");
    if (split) {  // the ClientHello in two segments, apart in time
      sendAll(fd, hello.substr(0, 40));
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
      sendAll(fd, hello.substr(40) + "END");
    } else {
      sendAll(fd, hello + "END");
    }
    std::string got;
    char tmp[64];
    ssize_t n;
    while ((n = recv(fd, tmp, sizeof tmp, 0)) > 0) got.append(tmp, size_t(n));
    close(fd);
    return got;
  };
  std::string helloA = clientHelloBytes("A.Example"), helloB = clientHelloBytes("api.b.example");
  EXPECT_EQ(answer(helloA, true), "A");
  EXPECT_EQ(answer(helloB, false), "B");
  a.thread.join();
  b.thread.join();
  EXPECT_EQ(a.first, helloA + "END");  // byte for byte: the backend terminates TLS itself
  EXPECT_EQ(b.first, helloB + "END");
  // A name no route takes, plain text, and a client that never finishes its hello: closed.
  EXPECT_EQ(answer(clientHelloBytes("c.example"), false), "");
  EXPECT_EQ(answer("GET / HTTP/1.1\r\nHost: a.example\r\n\r\n", false), "");
  int stalled = connectWhenListening(l.port);
  sendAll(stalled, helloA.substr(0, 20));
  char tmp[8];
  EXPECT_LE(recv(stalled, tmp, sizeof tmp, 0), 0);  // the header timeout ends it
  close(stalled);
  for (Backend* be : {&a, &b}) close(be->fd);
}

TEST(HttpProxy, TcpListenerTunnelsBytes) {
  int bePort;
  int beFd = listenOn(bePort);
  std::thread echo([beFd] {
    int c = accept(beFd, nullptr, nullptr);
    char tmp[256];
    ssize_t n;
    while ((n = recv(c, tmp, sizeof tmp, 0)) > 0) sendAll(c, std::string_view(tmp, size_t(n)));
    close(c);
  });
  ProxyOptions one;
  one.workers = 1;
  HttpProxy proxy(one);
  ASSERT_TRUE(proxy.start());
  auto t = std::make_shared<RouteTable>();
  t->clusters.push_back(cluster("db", {bePort}));
  Listener l;
  l.ip = "127.0.0.1";
  l.port = freePort();
  l.key = "127.0.0.1:" + std::to_string(l.port);
  l.protocol = Listener::Protocol::kTcp;
  l.tcpCluster = 0;
  l.name = "test/db";
  t->listeners.push_back(l);
  proxy.update(t);
  int fd = connectWhenListening(l.port);
  ASSERT_GE(fd, 0);
  sendAll(fd, "not http at all");
  std::string got;
  while (got.size() < 15) {
    char tmp[64];
    ssize_t n = recv(fd, tmp, sizeof tmp, 0);
    ASSERT_GT(n, 0);
    got.append(tmp, size_t(n));
  }
  EXPECT_EQ(got, "not http at all");
  shutdown(fd, SHUT_WR);  // half-close passes through: the echo server ends, then the tunnel
  char tmp[8];
  EXPECT_EQ(recv(fd, tmp, sizeof tmp, 0), 0);
  close(fd);
  echo.join();
  close(beFd);
}

TEST(HttpProxy, UdpFlowsAreAuthorized) {
  UdpEcho be;
  ProxyOptions one;
  one.workers = 1;
  HttpProxy proxy(one);
  ASSERT_TRUE(proxy.start());
  int port = freePort();
  auto table = [&](bool deny) {
    auto t = std::make_shared<RouteTable>();
    t->clusters.push_back(cluster("dns-guarded", {be.port()}));
    if (deny) {
      AuthzPolicy p;
      p.name = "test/deny-udp";
      p.deny = true;
      p.rules.push_back({});  // no from, no to: every caller, every port
      t->policies.push_back(p);
      t->clusters[0].endpoints[0].policies = {0};
    }
    Listener l;
    l.ip = "127.0.0.1";
    l.port = port;
    l.key = "udp/127.0.0.1:" + std::to_string(port);
    l.protocol = Listener::Protocol::kUdp;
    l.tcpCluster = 0;
    l.name = "test/dns-guarded";
    t->listeners.push_back(l);
    return t;
  };
  // Sends until an answer comes or `attempts` run out; "" when none came.
  auto ask = [&](int attempts) {
    int client = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(uint16_t(port));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connect(client, reinterpret_cast<sockaddr*>(&to), sizeof to);
    std::string got;
    for (int i = 0; i < attempts && got.empty(); ++i) {
      send(client, "query", 5, 0);
      pollfd p{client, POLLIN, 0};
      if (poll(&p, 1, 20) == 1) {
        char buf[64];
        ssize_t n = recv(client, buf, sizeof buf, 0);
        if (n > 0) got.assign(buf, size_t(n));
      }
    }
    close(client);
    return got;
  };
  auto denied = [] {
    std::string text = observe::exposition();
    std::string series = R"(skiff_proxy_authz_denied_total{destination_service="test/dns-guarded",policy="test/deny-udp"} )";
    size_t at = text.find(series);
    return at == std::string::npos ? 0.0 : std::atof(text.c_str() + at + series.size());
  };
  proxy.update(table(true));
  EXPECT_EQ(ask(30), "");  // every datagram dropped...
  EXPECT_GT(denied(), 0);  // ...because the policy denied it (not because nothing listened)
  proxy.update(table(false));
  EXPECT_EQ(ask(100), "query");
}

TEST(HttpProxy, UdpListenerForwardsDatagramsBothWays) {
  UdpEcho be;
  ProxyOptions one;
  one.workers = 1;
  HttpProxy proxy(one);
  ASSERT_TRUE(proxy.start());
  auto t = std::make_shared<RouteTable>();
  t->clusters.push_back(cluster("dns", {be.port()}));
  Listener l;
  l.ip = "127.0.0.1";
  l.port = freePort();
  l.key = "udp/127.0.0.1:" + std::to_string(l.port);
  l.protocol = Listener::Protocol::kUdp;
  l.tcpCluster = 0;
  l.name = "test/dns";
  t->listeners.push_back(l);
  proxy.update(t);
  int client = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(uint16_t(l.port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  connect(client, reinterpret_cast<sockaddr*>(&to), sizeof to);
  std::string got;
  for (int i = 0; i < 100 && got.empty(); ++i) {  // the worker installs the listener asynchronously
    send(client, "query", 5, 0);
    pollfd p{client, POLLIN, 0};
    if (poll(&p, 1, 20) == 1) {
      char buf[64];
      ssize_t n = recv(client, buf, sizeof buf, 0);
      if (n > 0) got.assign(buf, size_t(n));
    }
  }
  EXPECT_EQ(got, "query");
  // The reply comes from the address the client sent to (the listener's).
  sockaddr_in peer{};
  socklen_t pl = sizeof peer;
  getpeername(client, reinterpret_cast<sockaddr*>(&peer), &pl);
  EXPECT_EQ(ntohs(peer.sin_port), l.port);
  close(client);
}


TEST(HttpProxy, Http2ClientsGetClearAnswersAndBadFramesCostOnlyTheirConnection) {
  Backend be([](const Message&) { return Backend::Reply{200, "h1"}; });
  Route shop = routeTo({{0, 1}});
  shop.matches.push_back(RouteMatch{RouteMatch::Path::kPrefix, "/shop", nullptr, "", {}, {}});
  Fixture f({cluster("web", {be.port()})}, {shop});
  // No route: 404 over HTTP/2, and a gRPC caller gets the gRPC status in a trailers-only answer.
  H2Answer none = h2Get(f.port, "/nowhere");
  EXPECT_EQ(none.headers[":status"], "404");
  EXPECT_NE(none.body.find("no route for shop/nowhere"), std::string::npos) << none.body;
  H2Answer grpc = h2Get(f.port, "/nowhere", "application/grpc");
  EXPECT_EQ(grpc.headers["grpc-status"], "12");
  // The cluster speaks HTTP/1.1: the stream reaches it as an HTTP/1.1 request (http2_to_http1_test.cpp).
  H2Answer h1 = h2Get(f.port, "/shop");
  EXPECT_EQ(h1.headers[":status"], "200");
  EXPECT_EQ(h1.body, "h1");
  // Garbage after the preface ends that connection only.
  int fd = connectTo(f.port);
  sendAll(fd, std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + std::string(64, '\xff'));
  char buf[4096];
  pollfd p{fd, POLLIN, 0};
  ssize_t total = 0, r = 0;
  while (poll(&p, 1, 2000) > 0 && (r = recv(fd, buf, sizeof buf, 0)) > 0) total += r;
  EXPECT_EQ(r, 0);  // closed by the proxy (after a GOAWAY)
  close(fd);
  EXPECT_EQ(f.get("/shop").status, 200);
  EXPECT_EQ(h2Get(f.port, "/nowhere").headers[":status"], "404");
}


// A metric's value in the exposition (0 when the series is absent).
double seriesValue(const std::string& series) {
  std::string text = observe::exposition();
  size_t at = text.find(series + " ");
  return at == std::string::npos ? 0.0 : std::atof(text.c_str() + at + series.size() + 1);
}

// Waits (bounded) until `n()` stops changing for a moment: copies are sent after the answers.
template <typename F>
int settled(F n) {
  int last = -1;
  for (int i = 0; i < 100; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    int now = n();
    if (now == last) return now;
    last = now;
  }
  return last;
}

TEST(HttpProxy, RequestMirrorSendsCopiesWhoseAnswersNobodyWaitsFor) {
  Backend primary([](const Message& m) { return Backend::Reply{200, "primary got " + m.body}; });
  std::atomic<bool> hold{false};
  std::mutex seenMutex;
  std::vector<Message> seen;
  Backend mirror([&](const Message& m) {
    {
      std::lock_guard lock(seenMutex);
      seen.push_back(m);
    }
    for (int i = 0; i < 500 && hold; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return Backend::Reply{500, "mirror's answer, ignored"};
  });
  Route r = routeTo({{0, 1}});
  r.mirrors.push_back({1, 1, 1});
  Fixture f({cluster("web", {primary.port()}), cluster("shadow", {mirror.port()})}, {r});
  auto seenCount = [&] {
    std::lock_guard lock(seenMutex);
    return int(seen.size());
  };

  // A request with a body: the client gets the primary's answer; the mirror gets a copy with
  // the host marked as a shadow.
  int fd = connectTo(f.port);
  std::string buf;
  Message m;
  sendAll(fd, "POST /orders?x=1 HTTP/1.1\r\nHost: shop:8080\r\nContent-Length: 3\r\n\r\nabc");
  ASSERT_TRUE(readMessage(fd, buf, m));
  EXPECT_EQ(m.status, 200);
  EXPECT_EQ(m.body, "primary got abc");
  ASSERT_EQ(settled(seenCount), 1);
  {
    std::lock_guard lock(seenMutex);
    EXPECT_TRUE(seen[0].head.starts_with("POST /orders?x=1 HTTP/1.1\r\n")) << seen[0].head;
    EXPECT_EQ(seen[0].header("host"), "shop-shadow:8080");
    EXPECT_EQ(seen[0].body, "abc");
    EXPECT_EQ(seen[0].header("traceparent"), primary.last().header("traceparent")) << "the copy belongs to the same trace";
  }
  // A chunked body is mirrored whole, once it has ended.
  sendAll(fd, "POST /chunks HTTP/1.1\r\nHost: shop\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  ASSERT_TRUE(readMessage(fd, buf, m));
  EXPECT_EQ(m.body, "primary got abcde");
  ASSERT_EQ(settled(seenCount), 2);
  {
    std::lock_guard lock(seenMutex);
    EXPECT_EQ(seen[1].body, "abcde");
  }

  // A mirror that does not answer holds nobody: the client's answers keep coming.
  hold = true;
  for (int i = 0; i < 3; ++i) {
    sendAll(fd, "GET /while-held HTTP/1.1\r\nHost: shop\r\n\r\n");
    ASSERT_TRUE(readMessage(fd, buf, m));
    EXPECT_EQ(m.status, 200);
  }
  EXPECT_TRUE(hold) << "answered while the mirror still held its copies";
  hold = false;
  EXPECT_EQ(settled(seenCount), 5);

  // A body too long to keep is not mirrored, and that is counted.
  std::string big(100 * 1024, 'x');
  sendAll(fd, "POST /big HTTP/1.1\r\nHost: shop\r\nContent-Length: " + std::to_string(big.size()) + "\r\n\r\n" + big);
  ASSERT_TRUE(readMessage(fd, buf, m));
  EXPECT_EQ(m.body, "primary got " + big);
  EXPECT_EQ(settled(seenCount), 5);
  EXPECT_EQ(seriesValue(R"(skiff_proxy_mirror_requests_total{cluster="test/shadow:80",result="body_too_large"})"), 1);
  EXPECT_GE(seriesValue(R"(skiff_proxy_mirror_requests_total{cluster="test/shadow:80",result="completed"})"), 5);

  // HTTP/2 clients are mirrored too (as HTTP/1.1, with the whole body).
  std::string body = "from h2";
  H2Answer a = h2Request(f.port, "POST", "/h2", "text/plain", &body);
  EXPECT_EQ(a.headers[":status"], "200");
  EXPECT_EQ(a.body, "primary got from h2");
  ASSERT_EQ(settled(seenCount), 6);
  {
    std::lock_guard lock(seenMutex);
    EXPECT_TRUE(seen[5].head.starts_with("POST /h2 HTTP/1.1\r\n")) << seen[5].head;
    EXPECT_EQ(seen[5].header("host"), "shop-shadow");
    EXPECT_EQ(seen[5].header("content-type"), "text/plain");
    EXPECT_EQ(seen[5].body, "from h2");
  }
  close(fd);
  EXPECT_LE(mirror.accepted(), 3) << "copies reuse pooled connections to the mirror";
}

TEST(HttpProxy, RequestMirrorSendsItsShareOfRequests) {
  Backend primary([](const Message&) { return Backend::Reply{200, "p"}; });
  Backend mirror([](const Message&) { return Backend::Reply{200, "m"}; });
  Route r = routeTo({{0, 1}});
  r.mirrors.push_back({1, 1, 5});  // 20%
  Fixture f({cluster("web", {primary.port()}), cluster("shadow20", {mirror.port()})}, {r});
  int fd = connectTo(f.port);
  std::string buf;
  for (int i = 0; i < 2000; ++i) {
    sendAll(fd, "GET / HTTP/1.1\r\nHost: shop\r\n\r\n");
    Message m;
    ASSERT_TRUE(readMessage(fd, buf, m));
  }
  close(fd);
  int copies = settled([&] { return mirror.requests(); });
  EXPECT_NEAR(copies, 400, 80);  // binomial: sd ~18
  EXPECT_EQ(primary.requests(), 2000);
}

TEST(HttpProxy, RequestMirrorGivesUpOnASlowMirrorAtTheRouteTimeout) {
  Backend primary([](const Message&) { return Backend::Reply{200, "p"}; });
  Backend slow([](const Message&) { return Backend::Reply{200, "late", 1500}; });
  Route r = routeTo({{0, 1}});
  r.timeout = std::chrono::milliseconds(100);
  r.mirrors.push_back({1, 1, 1});
  Fixture f({cluster("web", {primary.port()}), cluster("slow-shadow", {slow.port()})}, {r});
  EXPECT_EQ(f.get("/").status, 200);
  std::string series = R"(skiff_proxy_mirror_requests_total{cluster="test/slow-shadow:80",result="timeout"})";
  for (int i = 0; i < 100 && seriesValue(series) < 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(seriesValue(series), 1);
  EXPECT_EQ(f.table->clusters[1].state->requests.load(), 0) << "the abandoned copy no longer counts against the mirror's limits";
}

TEST(RequestMirror, ShadowHostsKeepThePort) {
  using dataplane::shadowHead;
  using dataplane::shadowHost;
  EXPECT_EQ(shadowHost("shop"), "shop-shadow");
  EXPECT_EQ(shadowHost("shop.example:8080"), "shop.example-shadow:8080");
  EXPECT_EQ(shadowHost("[::1]"), "[::1]-shadow");
  EXPECT_EQ(shadowHost("[::1]:80"), "[::1]-shadow:80");
  EXPECT_EQ(shadowHead("GET / HTTP/1.1\r\nX-Host: a\r\nHOST: b\r\n\r\n"), "GET / HTTP/1.1\r\nX-Host: a\r\nHOST: b-shadow\r\n\r\n");
  std::vector<std::pair<std::string, std::string>> h2{{":method", "PUT"}, {":scheme", "http"}, {":authority", "a:81"}, {":path", "/p?q"},
                                                      {"te", "trailers"}, {"content-length", "9"}, {"x-y", "z"}};
  EXPECT_EQ(dataplane::shadowRequestFromHttp2(h2, "body"), "PUT /p?q HTTP/1.1\r\nhost: a-shadow:81\r\nx-y: z\r\ncontent-length: 4\r\n\r\nbody");
}

TEST(HttpProxy, Http2StreamsThatStopMovingTimeOut) {
  Backend slow([](const Message&) { return Backend::Reply{200, "late", 3000}; });
  ProxyOptions o;
  o.headerTimeout = std::chrono::milliseconds(200);
  o.upstreamIdle = std::chrono::milliseconds(200);
  Fixture f({cluster("slow", {slow.port()})}, {routeTo({{0, 1}})}, o);
  // An upstream that does not answer: 504 long before it would have.
  H2Answer a = h2Get(f.port, "/");
  EXPECT_EQ(a.headers[":status"], "504");
  EXPECT_NE(a.body.find("upstream idle timeout"), std::string::npos) << a.body;

  // A client that opens a request body and sends no more of it: 408.
  H2Answer stalled = h2RequestOn(connectTo(f.port), "POST", "/upload", "", nullptr, "shop", true);
  EXPECT_EQ(stalled.headers[":status"], "408");

  // A header block that never ends (slow loris over HTTP/2): the connection is closed.
  {
    int fd = connectTo(f.port);
    std::string frames = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    frames += std::string("\x00\x00\x00\x04\x00\x00\x00\x00\x00", 9);       // SETTINGS, empty
    frames += std::string("\x00\x00\x01\x01\x00\x00\x00\x00\x01\x82", 10);  // HEADERS on stream 1, no END_HEADERS: :method GET
    sendAll(fd, frames);
    char buf[4096];
    pollfd p{fd, POLLIN, 0};
    ssize_t r = 0;
    while (poll(&p, 1, 5000) > 0 && (r = recv(fd, buf, sizeof buf, 0)) > 0) {
    }
    EXPECT_EQ(r, 0) << "closed by the proxy after the header timeout";
    close(fd);
  }
  EXPECT_EQ(h2Get(f.port, "/").headers[":status"], "504") << "and it keeps serving others";
}

}  // namespace
}  // namespace skiff::proxy
