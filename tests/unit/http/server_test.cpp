// The HTTP server's front door under abuse: admission before the body, the connection cap,
// deadlines, HEAD, and event streams that fall behind. Plain HTTP on loopback, port 0.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "http/http.h"

namespace skiff::http {
namespace {

int dial(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  return fd;
}

void sendAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += size_t(n);
  }
}

// Reads until the peer closes, `until` shows up, or 10 s pass.
std::string readSome(int fd, const std::string& until = "", int timeoutMs = 10000) {
  std::string out;
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
  while (std::chrono::steady_clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    char buf[65536];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, size_t(n));
    if (!until.empty() && out.find(until) != std::string::npos) break;
  }
  return out;
}

bool closedByPeer(int fd, int timeoutMs) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, timeoutMs) <= 0) return false;
  char c;
  return ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) <= 0;
}

struct TestServer {
  explicit TestServer(ServerOptions o, Handler h = nullptr) {
    if (!h) h = [this](Exchange& ex) {
        ++handled;
        ex.respond({200, "text/plain", {}, "hello " + ex.request().user});
      };
    if (!o.admit)
      o.admit = [](const Request& r) {
        Admission a;
        if (r.header("authorization") != "Bearer good") a.refusal = Response{401, "text/plain", {}, "who are you"};
        else a.user = "alice";
        return a;
      };
    server = std::move(*listen(o, std::move(h)));
  }
  uint16_t port() { return server->port(); }
  std::atomic<int> handled{0};
  std::unique_ptr<Server> server;
};

const std::string kGood = "GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer good\r\n\r\n";

TEST(HttpServer, RefusesFromTheHeadWithoutReadingTheBody) {
  TestServer t(ServerOptions{});
  int fd = dial(t.port());
  // Announces 3 MiB, sends 1 KiB of it: the refusal comes at once, the rest is never read.
  sendAll(fd, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3145728\r\n\r\n" + std::string(1024, 'x'));
  std::string answer = readSome(fd, "who are you");
  EXPECT_NE(answer.find("401"), std::string::npos) << answer;
  EXPECT_NE(answer.find("Connection: close"), std::string::npos);
  EXPECT_TRUE(closedByPeer(fd, 5000));
  EXPECT_EQ(t.handled, 0);
  ::close(fd);
  fd = dial(t.port());
  sendAll(fd, kGood);
  EXPECT_NE(readSome(fd, "hello alice").find("hello alice"), std::string::npos);
  ::close(fd);
}

// The refused request's body arrives with its head and is not a request head itself: the
// connection is closed and the loop goes on serving (it once parsed those bytes forever).
TEST(HttpServer, ARefusedRequestsBufferedBodyIsNotParsedAgain) {
  TestServer t(ServerOptions{});
  int fd = dial(t.port());
  std::string body = "{\"kind\":\"RoleBinding\"}\r\n\r\n";
  sendAll(fd, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  EXPECT_NE(readSome(fd, "who are you").find("401"), std::string::npos);
  EXPECT_TRUE(closedByPeer(fd, 5000));
  ::close(fd);
  fd = dial(t.port());
  sendAll(fd, kGood);
  EXPECT_NE(readSome(fd, "hello alice", 5000).find("hello alice"), std::string::npos);
  ::close(fd);
}

TEST(HttpServer, AtTheCapTheOldestSilentConnectionMakesRoom) {
  ServerOptions o;
  o.maxConnections = 50;
  TestServer t(o);
  std::vector<int> silent;
  for (int i = 0; i < 200; ++i) silent.push_back(dial(t.port()));
  // A client that talks at once is still served, however many sit there silently.
  int fd = dial(t.port());
  sendAll(fd, kGood);
  EXPECT_NE(readSome(fd, "hello alice").find("hello alice"), std::string::npos);
  ::close(fd);
  ServerStats s = t.server->stats();
  EXPECT_LE(s.connections, 50u);
  EXPECT_GE(s.evicted, 150u);
  int closed = 0;
  for (int f : silent) {
    closed += closedByPeer(f, 0);
    ::close(f);
  }
  EXPECT_GE(closed, 150);
}

TEST(HttpServer, AHeadThatNeverEndsIsClosedAtItsDeadline) {
  ServerOptions o;
  o.headerTimeout = std::chrono::milliseconds(300);
  TestServer t(o);
  int fd = dial(t.port());
  sendAll(fd, "GET / HTTP/1.1\r\nHost: x\r\n");
  bool closed = false;
  for (int i = 0; i < 100 && !closed; ++i) {  // a byte every 50 ms does not extend the deadline
    sendAll(fd, "X");
    closed = closedByPeer(fd, 50);
  }
  EXPECT_TRUE(closed);
  EXPECT_GE(t.server->stats().timedOut, 1u);
  ::close(fd);
}

TEST(HttpServer, HeadAnswersCarryNoBodySoKeepAliveStaysInStep) {
  TestServer t(ServerOptions{});
  int fd = dial(t.port());
  sendAll(fd, "HEAD / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer good\r\n\r\n" + kGood);
  std::string both = readSome(fd, "hello alice");
  size_t second = both.find("HTTP/1.1 200", 1);
  ASSERT_NE(second, std::string::npos) << both;
  std::string first = both.substr(0, second);
  EXPECT_NE(first.find("Content-Length: 11"), std::string::npos) << first;  // what a GET would carry
  EXPECT_TRUE(first.ends_with("\r\n\r\n")) << first;                         // and nothing after the head
  ::close(fd);
}

// Answers above the coalescing size go out as head then body (not copied behind the head).
TEST(HttpServer, LargeAnswersArriveWholeAndKeepAliveStaysInStep) {
  std::string big(1 << 20, 'b');
  for (size_t i = 0; i < big.size(); i += 4096) big[i] = char('a' + i / 4096 % 26);
  TestServer t(ServerOptions{}, [&](Exchange& ex) {
    if (ex.request().path == "/big") ex.respond({200, "text/plain", {}, big});
    else ex.respond({200, "text/plain", {}, "hello " + ex.request().user});
  });
  int fd = dial(t.port());
  const std::string auth = "Host: x\r\nAuthorization: Bearer good\r\n\r\n";
  sendAll(fd, "GET /big HTTP/1.1\r\n" + auth + "HEAD /big HTTP/1.1\r\n" + auth + kGood);
  std::string all = readSome(fd, "hello alice");
  size_t end1 = all.find("\r\n\r\n");
  ASSERT_NE(end1, std::string::npos);
  EXPECT_NE(all.substr(0, end1).find("Content-Length: 1048576"), std::string::npos);
  ASSERT_GE(all.size(), end1 + 4 + big.size());
  EXPECT_TRUE(all.compare(end1 + 4, big.size(), big) == 0);
  std::string rest = all.substr(end1 + 4 + big.size());
  size_t end2 = rest.find("\r\n\r\n");
  ASSERT_NE(end2, std::string::npos) << rest.substr(0, 200);
  EXPECT_TRUE(rest.starts_with("HTTP/1.1 200")) << rest.substr(0, 200);
  EXPECT_NE(rest.substr(0, end2).find("Content-Length: 1048576"), std::string::npos);
  EXPECT_TRUE(rest.substr(end2 + 4).starts_with("HTTP/1.1 200")) << rest.substr(end2 + 4, 200);  // HEAD: no body
  ::close(fd);
}

// A request stops counting against its client's queue once a worker takes it.
TEST(HttpServer, AClientsQueueCountIsReleasedWhenItsRequestRuns) {
  ServerOptions o;
  o.workers = 1;
  o.maxQueuedPerUser = 1;
  TestServer t(o);
  for (int i = 0; i < 5; ++i) {
    int fd = dial(t.port());
    sendAll(fd, kGood);
    EXPECT_NE(readSome(fd, "hello alice").find("hello alice"), std::string::npos) << "request " << i;
    ::close(fd);
  }
  EXPECT_EQ(t.handled, 5);
}

TEST(HttpServer, TooManyQueuedRequestsFromOneClientAre429) {
  ServerOptions o;
  o.workers = 1;
  o.maxQueuedPerUser = 2;
  std::atomic<bool> release{false}, running{false};
  TestServer t(o, [&](Exchange& ex) {
    running = true;
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ex.respond({200, "text/plain", {}, "ok"});
  });
  std::vector<int> fds;
  for (int i = 0; i < 6; ++i) {
    fds.push_back(dial(t.port()));
    sendAll(fds.back(), kGood);
    for (int w = 0; i == 0 && w < 1000 && !running; ++w) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  int tooMany = 0;
  for (int i = 0; i < 100 && tooMany < 3; ++i) {
    tooMany = 0;
    for (int f : fds) {
      char buf[64] = {};
      if (::recv(f, buf, sizeof buf - 1, MSG_PEEK | MSG_DONTWAIT) > 0 && std::string(buf).find("429") != std::string::npos) ++tooMany;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(tooMany, 3);  // one running, two waiting, three refused
  release = true;
  for (int f : fds) ::close(f);
}

TEST(HttpServer, AnEventStreamThatFallsBehindEndsWithItsLastWords) {
  std::atomic<bool> ended{false};
  TestServer t(ServerOptions{}, [&](Exchange& ex) {
    EventStreamOptions so;
    so.maxQueuedBytes = 1000;
    so.overflowChunk = [] { return std::make_shared<const std::string>("too slow\n"); };
    so.onEnd = [&] { ended = true; };
    auto stream = ex.startEventStream(200, "application/json", so);
    ex.writeDirect("initial\n");
    // Queued while the handler still runs, so nothing drains them: the budget runs out.
    bool accepted = true;
    for (int i = 0; i < 50 && accepted; ++i) accepted = stream->push(std::make_shared<const std::string>(std::string(99, 'e') + "\n"));
    EXPECT_FALSE(accepted);
    EXPECT_TRUE(stream->ended());
  });
  int fd = dial(t.port());
  sendAll(fd, kGood);
  std::string got = readSome(fd, "0\r\n\r\n");
  EXPECT_NE(got.find("initial"), std::string::npos) << got;
  EXPECT_NE(got.find("too slow"), std::string::npos) << got;
  EXPECT_EQ(got.find("eeee"), std::string::npos) << "what was queued is dropped, not sent";
  EXPECT_TRUE(closedByPeer(fd, 5000));
  for (int i = 0; i < 200 && !ended; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_TRUE(ended);
  ::close(fd);
}

TEST(HttpServer, EventStreamsAreWrittenByTheLoopAndEndWhenTheClientLeaves) {
  std::shared_ptr<EventStream> stream;
  std::atomic<bool> ended{false};
  std::mutex m;
  TestServer t(ServerOptions{}, [&](Exchange& ex) {
    EventStreamOptions so;
    so.onEnd = [&] { ended = true; };
    std::lock_guard lock(m);
    stream = ex.startEventStream(200, "application/json", so);
  });
  int fd = dial(t.port());
  sendAll(fd, kGood);
  readSome(fd, "\r\n\r\n");
  for (int i = 0; i < 200; ++i) {
    std::lock_guard lock(m);
    if (stream) break;
  }
  std::shared_ptr<EventStream> s;
  for (int i = 0; i < 200 && !s; ++i) {
    {
      std::lock_guard lock(m);
      s = stream;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(s);
  // Pushed from another thread after the handler returned: the loop writes it.
  std::thread([&] { s->push(std::make_shared<const std::string>("event-one\n")); }).join();
  EXPECT_NE(readSome(fd, "event-one").find("event-one"), std::string::npos);
  ::close(fd);
  for (int i = 0; i < 500 && !ended; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_TRUE(ended);
  EXPECT_FALSE(s->push(std::make_shared<const std::string>("late\n")));
}

}  // namespace
}  // namespace skiff::http
