// HTTP/2 callers of HTTP/1.1 services through the node proxy: the request as the HTTP/1.1 backend
// sees it (Host, framing, hop-by-hop headers), responses of every HTTP/1.1 framing as HTTP/2,
// large bodies both ways under flow control, pooled connections, retries and broken upstreams.
#include "proxy/http2_to_http1.h"

#include "proxy_test_support.h"

#include <mutex>

#include "http/websocket.h"

namespace skiff::proxy {
namespace {

using namespace proxytest;

// An HTTP/2 client connection that can carry several streams at once, and send a request body
// in pieces with pauses (so the proxy sees the head before the body).
class H2Caller {
 public:
  struct Call {
    std::map<std::string, std::string> headers;
    std::string body;
    bool closed = false;
    uint32_t resetCode = 0;
    std::vector<std::string> pieces;  // request body, sent piece by piece
    size_t piece = 0, offset = 0;
    bool released = false;            // the next piece may go
    bool hasBody = false;
  };

  explicit H2Caller(int port) : fd_(connectTo(port)) {
    nghttp2_session_callbacks* cbs = nullptr;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_header_callback(
        cbs, [](nghttp2_session* s, const nghttp2_frame* f, const uint8_t* n, size_t nl, const uint8_t* v, size_t vl, uint8_t, void*) {
          if (auto* c = static_cast<Call*>(nghttp2_session_get_stream_user_data(s, f->hd.stream_id)))
            c->headers[std::string(reinterpret_cast<const char*>(n), nl)] = std::string(reinterpret_cast<const char*>(v), vl);
          return 0;
        });
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, [](nghttp2_session* s, uint8_t, int32_t id, const uint8_t* d, size_t l, void*) {
      if (auto* c = static_cast<Call*>(nghttp2_session_get_stream_user_data(s, id))) c->body.append(reinterpret_cast<const char*>(d), l);
      return 0;
    });
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, [](nghttp2_session* s, int32_t id, uint32_t code, void*) {
      if (auto* c = static_cast<Call*>(nghttp2_session_get_stream_user_data(s, id))) {
        c->closed = true;
        c->resetCode = code;
      }
      return 0;
    });
    nghttp2_session_client_new(&session_, cbs, this);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, nullptr, 0);
  }
  ~H2Caller() {
    nghttp2_session_del(session_);
    if (fd_ >= 0) close(fd_);
  }

  // Starts a request; `pieces` (if any) are its body, the first sent with the head, each next
  // one after release().
  Call& submit(const std::string& method, const std::string& path, std::vector<std::pair<std::string, std::string>> extra = {},
               std::vector<std::string> pieces = {}, bool withBody = false) {
    calls_.push_back(std::make_unique<Call>());
    Call& c = *calls_.back();
    c.pieces = std::move(pieces);
    c.hasBody = withBody || !c.pieces.empty();
    c.released = true;
    std::vector<std::pair<std::string, std::string>> h{{":method", method}, {":scheme", "http"}, {":authority", "shop.example"}, {":path", path}};
    for (auto& e : extra) h.push_back(std::move(e));
    std::vector<nghttp2_nv> nva;
    for (auto& [k, v] : h)
      nva.push_back({reinterpret_cast<uint8_t*>(k.data()), reinterpret_cast<uint8_t*>(v.data()), k.size(), v.size(), NGHTTP2_NV_FLAG_NONE});
    nghttp2_data_provider provider{};
    provider.source.ptr = &c;
    provider.read_callback = [](nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags, nghttp2_data_source* src, void*) {
      auto* c = static_cast<Call*>(src->ptr);
      if (c->piece >= c->pieces.size()) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        return ssize_t(0);
      }
      if (!c->released) return ssize_t(NGHTTP2_ERR_DEFERRED);
      const std::string& p = c->pieces[c->piece];
      size_t n = std::min(length, p.size() - c->offset);
      std::memcpy(buf, p.data() + c->offset, n);
      c->offset += n;
      if (c->offset == p.size()) {
        ++c->piece;
        c->offset = 0;
        c->released = false;
        if (c->piece == c->pieces.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
      }
      return ssize_t(n);
    };
    ids_.push_back(nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(), c.hasBody ? &provider : nullptr, &c));
    return c;
  }
  // Lets the next body piece of every call go.
  void release() {
    for (size_t i = 0; i < calls_.size(); ++i) {
      calls_[i]->released = true;
      nghttp2_session_resume_data(session_, ids_[i]);
    }
  }
  // Exchanges frames until every call has closed or `ms` pass without a byte.
  void run(int ms = 5000) {
    auto done = [&] {
      for (auto& c : calls_)
        if (!c->closed) return false;
      return true;
    };
    while (fd_ >= 0 && !done()) {
      if (!step(ms)) return;
    }
  }
  uint32_t remoteSetting(nghttp2_settings_id id) const { return nghttp2_session_get_remote_settings(session_, id); }
  // Sends what is queued and reads once (waiting up to `ms`). False when the connection ended.
  bool step(int ms) {
    const uint8_t* data;
    ssize_t n;
    std::string out;  // one write, as clients that buffer their frames do
    while ((n = nghttp2_session_mem_send(session_, &data)) > 0) out.append(reinterpret_cast<const char*>(data), size_t(n));
    sendAll(fd_, out);
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, ms) <= 0) return false;
    char buf[65536];
    ssize_t r = recv(fd_, buf, sizeof buf, 0);
    if (r <= 0) return false;
    return nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(buf), size_t(r)) >= 0;
  }

 private:
  int fd_;
  nghttp2_session* session_ = nullptr;
  std::vector<std::unique_ptr<Call>> calls_;
  std::vector<int32_t> ids_;
};

// What a connection sends up to the end of its request head (and any bytes after it).
std::string readHead(int c) {
  std::string buf;
  char tmp[4096];
  ssize_t n;
  while (buf.find("\r\n\r\n") == std::string::npos && (n = recv(c, tmp, sizeof tmp, 0)) > 0) buf.append(tmp, size_t(n));
  return buf;
}

// A raw HTTP/1.1 backend: each connection gets `answer` once the request head has arrived,
// then is closed.
class RawBackend {
 public:
  explicit RawBackend(std::string answer) : answer_(std::move(answer)) {
    fd_ = listenOn(port_);
    thread_ = std::thread([this] {
      while (true) {
        int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) return;
        readHead(c);
        sendAll(c, answer_);
        close(c);
      }
    });
  }
  ~RawBackend() {
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  int port() const { return port_; }

 private:
  std::string answer_;
  int fd_ = -1, port_ = 0;
  std::thread thread_;
};

// A WebSocket server of the simplest kind: answers an upgrade with 101 (or with `refusal` when
// set), then echoes every byte until the client finishes, then closes. Remembers the last head.
class WebSocketEcho {
 public:
  explicit WebSocketEcho(std::string refusal = "") : refusal_(std::move(refusal)) {
    fd_ = listenOn(port_);
    thread_ = std::thread([this] {
      while (true) {
        int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) return;
        std::string buf = readHead(c);
        size_t end = buf.find("\r\n\r\n");
        if (end == std::string::npos) {
          close(c);
          continue;
        }
        std::string head = buf.substr(0, end + 4), rest = buf.substr(end + 4);
        {
          std::lock_guard lock(mutex_);
          lastHead_ = head;
        }
        if (!refusal_.empty()) {
          sendAll(c, refusal_);
          close(c);
          continue;
        }
        std::string key;
        for (size_t at = head.find("\r\n"); at != std::string::npos && at + 2 < head.size(); at = head.find("\r\n", at + 2)) {
          std::string line = head.substr(at + 2, head.find("\r\n", at + 2) - at - 2);
          std::string lower = line;
          for (auto& ch : lower) ch = char(std::tolower(static_cast<unsigned char>(ch)));
          if (lower.starts_with("sec-websocket-key:")) key = line.substr(line.find(':') + 2);
        }
        sendAll(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
                       http::webSocketAccept(key) + "\r\nSec-WebSocket-Protocol: chat\r\n\r\n");
        if (!rest.empty()) sendAll(c, rest);
        char tmp[4096];
        ssize_t n;
        while ((n = recv(c, tmp, sizeof tmp, 0)) > 0) sendAll(c, std::string_view(tmp, size_t(n)));
        close(c);
      }
    });
  }
  ~WebSocketEcho() {
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  int port() const { return port_; }
  std::string lastHead() {
    std::lock_guard lock(mutex_);
    return lastHead_;
  }

 private:
  std::string refusal_;
  int fd_ = -1, port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
  std::string lastHead_;
};

TEST(Http2ToHttp1, WebSocketsOverHttp2ReachAnHttp11ServiceThroughExtendedConnect) {
  WebSocketEcho echo;
  WebSocketEcho plainServer("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  WebSocketEcho forbidding("HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno");
  auto under = [](const char* prefix, int cluster) {
    Route r = routeTo({{cluster, 1}});
    r.matches.push_back(RouteMatch{RouteMatch::Path::kPrefix, prefix, nullptr, "GET", {}, {}});  // a WebSocket is a GET
    return r;
  };
  Fixture f({cluster("echo", {echo.port()}), cluster("plain", {plainServer.port()}), cluster("forbidding", {forbidding.port()})},
            {under("/plain", 1), under("/forbidden", 2), under("/", 0)});
  H2Caller caller(f.port);
  caller.step(2000);  // the proxy's SETTINGS
  EXPECT_EQ(caller.remoteSetting(NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL), 1u);
  std::vector<std::pair<std::string, std::string>> upgrade{{":protocol", "websocket"}, {"sec-websocket-version", "13"},
                                                           {"sec-websocket-protocol", "chat"}};
  auto& socket = caller.submit("CONNECT", "/chat?room=1", upgrade, {"hello ", "world"}, true);
  // The first bytes come back once the socket is open; then the rest, then the client finishes.
  for (int i = 0; i < 50 && socket.body.size() < 6; ++i) caller.step(100);
  EXPECT_EQ(socket.headers[":status"], "200");
  EXPECT_EQ(socket.headers["sec-websocket-protocol"], "chat");
  EXPECT_EQ(socket.headers.count("sec-websocket-accept"), 0u);  // that hop's business
  EXPECT_EQ(socket.body, "hello ");
  caller.release();
  caller.run();
  EXPECT_TRUE(socket.closed);
  EXPECT_EQ(socket.resetCode, 0u);
  EXPECT_EQ(socket.body, "hello world");
  std::string head = echo.lastHead();
  EXPECT_TRUE(head.starts_with("GET /chat?room=1 HTTP/1.1\r\n")) << head;
  EXPECT_NE(head.find("upgrade: websocket\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("connection: upgrade\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("sec-websocket-version: 13\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("sec-websocket-key: "), std::string::npos) << head;
  EXPECT_NE(head.find("sec-websocket-protocol: chat\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.find("content-length"), std::string::npos) << head;

  // A server that does not switch: its 2xx would look like an open socket, so the caller gets 502;
  // a refusal passes through as it is; a protocol other than websocket is not served.
  auto& notSwitched = caller.submit("CONNECT", "/plain", upgrade, {}, true);
  auto& refused = caller.submit("CONNECT", "/forbidden", upgrade, {}, true);
  auto& other = caller.submit("CONNECT", "/chat", {{":protocol", "connect-udp"}}, {}, true);
  auto& plainGet = caller.submit("GET", "/chat");  // the same connection keeps serving requests
  caller.run();
  EXPECT_EQ(notSwitched.headers[":status"], "502") << notSwitched.body;
  EXPECT_EQ(refused.headers[":status"], "403");
  EXPECT_EQ(refused.body, "no");
  EXPECT_EQ(other.headers[":status"], "501");
  EXPECT_TRUE(plainGet.closed);
  EXPECT_EQ(plainGet.headers[":status"], "502");  // the echo server's 101 to a plain GET: no switch on HTTP/2
}

TEST(Http2ToHttp1, TheBackendSeesAnHttp11RequestAndTheCallerAnHttp2Response) {
  Backend be([](const Message& m) {
    Backend::Reply r{200, "seen " + m.head.substr(0, m.head.find("\r\n"))};
    r.extraHeaders = "Connection: keep-alive, X-Private\r\nKeep-Alive: timeout=5\r\nX-Private: dropped\r\nX-Shop-Version: 7\r\n";
    return r;
  });
  Fixture f({cluster("web", {be.port()})}, {routeTo({{0, 1}})});
  H2Caller caller(f.port);
  auto& call = caller.submit("GET", "/items?page=2", {{"user-agent", "h2-test"}, {"te", "trailers"}});
  caller.run();
  ASSERT_TRUE(call.closed);
  EXPECT_EQ(call.resetCode, 0u);
  EXPECT_EQ(call.headers[":status"], "200");
  EXPECT_EQ(call.body, "seen GET /items?page=2 HTTP/1.1");
  EXPECT_EQ(call.headers["x-shop-version"], "7");           // names arrive lower case
  EXPECT_EQ(call.headers.count("connection"), 0u);          // hop-by-hop headers stay behind,
  EXPECT_EQ(call.headers.count("keep-alive"), 0u);
  EXPECT_EQ(call.headers.count("x-private"), 0u);           // with those Connection names
  Message seen = be.last();
  EXPECT_EQ(seen.header("host"), "shop.example");           // :authority
  EXPECT_EQ(seen.header("user-agent"), "h2-test");
  EXPECT_EQ(seen.header("te"), "");                          // HTTP/2's TE: trailers is not HTTP/1.1's
  EXPECT_EQ(seen.header("x-forwarded-for"), "127.0.0.1");
  EXPECT_EQ(seen.header("traceparent").size(), 55u);
  EXPECT_EQ(seen.header("content-length"), "");              // a GET without a body declares none
  EXPECT_EQ(seen.header("transfer-encoding"), "");
}

TEST(Http2ToHttp1, RequestBodiesGoUpWithTheirLengthOrChunkedWhileStillArriving) {
  Backend be([](const Message& m) {
    std::string framing = m.header("transfer-encoding") == "chunked" ? "chunked" : "length=" + m.header("content-length");
    return Backend::Reply{200, framing + " body=" + m.body};
  });
  Fixture f({cluster("web", {be.port()})}, {routeTo({{0, 1}})});
  {
    H2Caller caller(f.port);  // the whole body comes with the head
    auto& whole = caller.submit("POST", "/orders", {}, {"apple=3"});
    auto& empty = caller.submit("POST", "/orders", {}, {}, true);  // an empty body still says so
    caller.run();
    EXPECT_EQ(whole.body, "length=7 body=apple=3");
    EXPECT_EQ(empty.body, "length=0 body=");
  }
  {
    H2Caller caller(f.port);  // the body follows later, in pieces: chunked
    auto& late = caller.submit("PUT", "/orders/1", {}, {"first,", "second,", "third"});
    for (int i = 0; i < 20 && !late.closed; ++i) {
      caller.step(50);
      caller.release();
    }
    caller.run();
    EXPECT_EQ(late.headers[":status"], "200");
    EXPECT_EQ(late.body, "chunked body=first,second,third");
  }
  {
    H2Caller caller(f.port);  // the client's own content-length is kept, the body streamed as is
    auto& declared = caller.submit("POST", "/orders", {{"content-length", "10"}}, {"01234", "56789"});
    for (int i = 0; i < 20 && !declared.closed; ++i) {
      caller.step(50);
      caller.release();
    }
    caller.run();
    EXPECT_EQ(declared.body, "length=10 body=0123456789");
  }
}

TEST(Http2ToHttp1, ChunkedAndHeadResponsesAndLargeBodiesBothWays) {
  std::string large(3 * 1024 * 1024 + 17, 'x');
  for (size_t i = 0; i < large.size(); i += 4096) large[i] = char('a' + (i / 4096) % 26);
  Backend be([&](const Message& m) {
    if (m.head.starts_with("GET /chunked")) {
      Backend::Reply r{200, "streamed in chunks"};
      r.chunked = true;
      return r;
    }
    if (m.head.starts_with("HEAD")) return Backend::Reply{200, ""};
    if (m.head.starts_with("GET /large")) return Backend::Reply{200, large};
    return Backend::Reply{200, "got " + std::to_string(m.body.size()) + (m.body == large ? " same" : " different")};
  });
  Fixture f({cluster("web", {be.port()})}, {routeTo({{0, 1}})});
  H2Caller caller(f.port);
  auto& chunked = caller.submit("GET", "/chunked");
  auto& head = caller.submit("HEAD", "/");
  auto& download = caller.submit("GET", "/large");
  caller.run();
  EXPECT_EQ(chunked.body, "streamed in chunks");  // the framing is gone, the bytes are the data
  EXPECT_EQ(head.headers[":status"], "200");
  EXPECT_EQ(head.body, "");
  EXPECT_EQ(head.resetCode, 0u);
  ASSERT_EQ(download.body.size(), large.size());
  EXPECT_TRUE(download.body == large);
  // An upload larger than the proxy keeps for retries, flow-controlled through to the backend.
  H2Caller uploader(f.port);
  auto& upload = uploader.submit("POST", "/upload", {{"content-length", std::to_string(large.size())}}, {large});
  uploader.run();
  EXPECT_EQ(upload.body, "got " + std::to_string(large.size()) + " same");
}

TEST(Http2ToHttp1, ConnectionsArePooledAndConcurrentStreamsGetTheirOwn) {
  Backend be([](const Message&) { return Backend::Reply{200, "ok", 30}; });
  Fixture f({cluster("web", {be.port()})}, {routeTo({{0, 1}})});
  for (int i = 0; i < 5; ++i) {
    H2Caller caller(f.port);
    auto& c = caller.submit("GET", "/one-by-one");
    caller.run();
    EXPECT_EQ(c.body, "ok");
  }
  EXPECT_EQ(be.accepted(), 1);  // one after another: the same pooled connection
  H2Caller caller(f.port);
  std::vector<H2Caller::Call*> calls;
  for (int i = 0; i < 4; ++i) calls.push_back(&caller.submit("GET", "/together"));
  caller.run();
  for (auto* c : calls) EXPECT_EQ(c->body, "ok");
  EXPECT_EQ(be.accepted(), 4);  // four at once: the pooled one and three new
}

TEST(Http2ToHttp1, FailedTriesAreRetriedAndBrokenResponsesResetTheStream) {
  Backend failing([](const Message&) { return Backend::Reply{503, "busy"}; });
  Backend good([](const Message& m) { return Backend::Reply{200, "good:" + m.body}; });
  Cluster c = cluster("retry", {failing.port(), good.port()});
  c.retry.attempts = 2;
  c.retry.onGatewayError = true;
  c.retry.backoffBase = std::chrono::milliseconds(5);
  int closedPort = freePort();
  Cluster refused = cluster("refused", {closedPort, good.port()});
  refused.retry.attempts = 1;  // connect failures are retried by default
  refused.retry.backoffBase = std::chrono::milliseconds(5);
  Route toRefused = routeTo({{1, 1}});
  toRefused.matches.push_back(RouteMatch{RouteMatch::Path::kPrefix, "/refused", nullptr, "", {}, {}});
  RawBackend truncating("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part of it");
  RawBackend garbage("HTTP/1.1 2x0 what\r\n\r\n");
  Route toTruncating = routeTo({{2, 1}});
  toTruncating.matches.push_back(RouteMatch{RouteMatch::Path::kPrefix, "/truncated", nullptr, "", {}, {}});
  Route toGarbage = routeTo({{3, 1}});
  toGarbage.matches.push_back(RouteMatch{RouteMatch::Path::kPrefix, "/garbage", nullptr, "", {}, {}});
  Fixture f({c, refused, cluster("truncating", {truncating.port()}), cluster("garbage", {garbage.port()})},
            {toRefused, toTruncating, toGarbage, routeTo({{0, 1}})});
  for (int i = 0; i < 6; ++i) {
    H2Caller caller(f.port);
    auto& retried = caller.submit("POST", "/orders", {}, {"order-" + std::to_string(i)});
    auto& elsewhere = caller.submit("GET", "/refused");
    caller.run();
    EXPECT_EQ(retried.headers[":status"], "200") << retried.body;
    EXPECT_EQ(retried.body, "good:order-" + std::to_string(i));  // the body sent again
    EXPECT_EQ(elsewhere.headers[":status"], "200") << elsewhere.body;
  }
  EXPECT_GT(failing.requests(), 0);
  H2Caller caller(f.port);
  auto& truncated = caller.submit("GET", "/truncated");
  auto& bad = caller.submit("GET", "/garbage");
  auto& after = caller.submit("GET", "/orders");  // the connection keeps serving
  caller.run();
  EXPECT_TRUE(truncated.closed);
  EXPECT_NE(truncated.resetCode, 0u);  // the client cannot take the short body for the whole
  EXPECT_LT(truncated.body.size(), 100u);
  EXPECT_EQ(bad.headers[":status"], "502");
  EXPECT_EQ(after.headers[":status"], "200");
}

}  // namespace
}  // namespace skiff::proxy
