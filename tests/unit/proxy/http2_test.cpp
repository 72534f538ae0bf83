// HTTP/2 through the node proxy against real HTTP/2 backends (nghttp2 servers on loopback):
// retries on statuses, refused and reset streams, refused connections and gRPC's UNAVAILABLE,
// with the request body sent again, within the retry policy's limits.
#include "proxy/http2.h"

#include "observe/metrics.h"
#include "proxy_test_support.h"

namespace skiff::proxy {
namespace {

using namespace proxytest;

// A blocking HTTP/2 (h2c) backend: a thread per connection, each request answered by `handler`
// once its body has arrived.
class H2Backend {
 public:
  struct Request {
    std::map<std::string, std::string> headers;
    std::string body;
  };
  struct Reply {
    Reply(int s, std::string b, std::string grpc = "", uint32_t reset = 0)
        : status(s), body(std::move(b)), grpcStatus(std::move(grpc)), resetCode(reset) {}
    int status = 200;
    std::string body = "ok";
    std::string grpcStatus;  // set: a trailers-only gRPC answer with this grpc-status
    uint32_t resetCode = 0;  // set: the stream is reset with this code instead (REFUSED_STREAM, ...)
  };
  using Handler = std::function<Reply(const Request&)>;

  explicit H2Backend(Handler h) : handler_(std::move(h)) {
    fd_ = listenOn(port_);
    thread_ = std::thread([this] {
      while (!stopping_) {
        int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) return;
        std::lock_guard lock(mutex_);
        workers_.emplace_back([this, c] { serve(c); });
      }
    });
  }
  ~H2Backend() {
    stopping_ = true;
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
    std::lock_guard lock(mutex_);
    for (auto& t : workers_) t.join();
  }
  int port() const { return port_; }
  int requests() const { return requests_; }
  std::vector<std::string> bodies() {
    std::lock_guard lock(mutex_);
    return bodies_;
  }

 private:
  struct Stream {
    Request request;
    std::string out;
    size_t offset = 0;
  };
  struct Connection {
    explicit Connection(H2Backend* b) : backend(b) {}
    H2Backend* backend;
    nghttp2_session* session = nullptr;
    std::map<int32_t, Stream> streams;
  };

  static int onHeader(nghttp2_session*, const nghttp2_frame* f, const uint8_t* n, size_t nl, const uint8_t* v, size_t vl, uint8_t, void* u) {
    auto* c = static_cast<Connection*>(u);
    c->streams[f->hd.stream_id].request.headers[std::string(reinterpret_cast<const char*>(n), nl)] =
        std::string(reinterpret_cast<const char*>(v), vl);
    return 0;
  }
  static int onData(nghttp2_session*, uint8_t, int32_t id, const uint8_t* d, size_t l, void* u) {
    static_cast<Connection*>(u)->streams[id].request.body.append(reinterpret_cast<const char*>(d), l);
    return 0;
  }
  static int onFrame(nghttp2_session* session, const nghttp2_frame* f, void* u) {
    auto* c = static_cast<Connection*>(u);
    if (!(f->hd.flags & NGHTTP2_FLAG_END_STREAM) || (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA)) return 0;
    Stream& st = c->streams[f->hd.stream_id];
    ++c->backend->requests_;
    {
      std::lock_guard lock(c->backend->mutex_);
      c->backend->bodies_.push_back(st.request.body);
    }
    Reply r = c->backend->handler_(st.request);
    if (r.resetCode) {
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, f->hd.stream_id, r.resetCode);
      return 0;
    }
    std::string status = std::to_string(r.status);
    std::vector<std::pair<std::string, std::string>> h{{":status", status}};
    if (!r.grpcStatus.empty()) {
      h.emplace_back("content-type", "application/grpc");
      h.emplace_back("grpc-status", r.grpcStatus);
    }
    std::vector<nghttp2_nv> nva;
    for (auto& [k, v] : h)
      nva.push_back({reinterpret_cast<uint8_t*>(k.data()), reinterpret_cast<uint8_t*>(v.data()), k.size(), v.size(), NGHTTP2_NV_FLAG_NONE});
    st.out = r.body;
    nghttp2_data_provider body{};
    body.source.ptr = &st;
    body.read_callback = [](nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags, nghttp2_data_source* src, void*) {
      auto* s = static_cast<Stream*>(src->ptr);
      size_t n = std::min(length, s->out.size() - s->offset);
      std::memcpy(buf, s->out.data() + s->offset, n);
      s->offset += n;
      if (s->offset == s->out.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
      return ssize_t(n);
    };
    nghttp2_submit_response(session, f->hd.stream_id, nva.data(), nva.size(), r.grpcStatus.empty() ? &body : nullptr);
    return 0;
  }

  void serve(int fd) {
    Connection c{this};
    nghttp2_session_callbacks* cbs = nullptr;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_header_callback(cbs, onHeader);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, onData);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, onFrame);
    nghttp2_session_server_new(&c.session, cbs, &c);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_submit_settings(c.session, NGHTTP2_FLAG_NONE, nullptr, 0);
    while (!stopping_) {
      const uint8_t* data;
      ssize_t n;
      while ((n = nghttp2_session_mem_send(c.session, &data)) > 0) sendAll(fd, {reinterpret_cast<const char*>(data), size_t(n)});
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 50) == 0) continue;
      char buf[16384];
      ssize_t r = recv(fd, buf, sizeof buf, 0);
      if (r <= 0 || nghttp2_session_mem_recv(c.session, reinterpret_cast<const uint8_t*>(buf), size_t(r)) < 0) break;
    }
    nghttp2_session_del(c.session);
    close(fd);
  }

  Handler handler_;
  int fd_ = -1, port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
  std::mutex mutex_;
  std::vector<std::thread> workers_;
  std::vector<std::string> bodies_;
};

Cluster h2Cluster(const std::string& name, std::vector<int> ports, int retries) {
  Cluster c = cluster(name, std::move(ports));
  c.http2 = true;
  c.retry.attempts = retries;
  c.retry.backoffBase = std::chrono::milliseconds(5);
  return c;
}

double eventCount(const std::string& cluster, const char* event) {
  return dataplane::proxyEvent(cluster, event).value();
}

TEST(Http2Proxy, RetriesAnotherEndpointOnARetryableStatusWithTheBodySentAgain) {
  H2Backend failing([](const H2Backend::Request&) { return H2Backend::Reply{503, "busy"}; });
  H2Backend good([](const H2Backend::Request& r) { return H2Backend::Reply{200, "got:" + r.body}; });
  Cluster c = h2Cluster("retry-status", {failing.port(), good.port()}, 2);
  c.retry.onGatewayError = true;
  Fixture f({c}, {routeTo({{0, 1}})});
  double retriesBefore = eventCount(c.name, "retry");
  for (int i = 0; i < 20; ++i) {
    std::string body = "order-" + std::to_string(i);
    H2Answer a = h2Request(f.port, "POST", "/orders", "", &body);
    ASSERT_EQ(a.headers[":status"], "200") << a.body;
    EXPECT_EQ(a.body, "got:" + body);
  }
  EXPECT_GT(failing.requests(), 0);  // round robin sent some there first
  EXPECT_EQ(good.requests(), 20);
  for (const auto& b : failing.bodies()) EXPECT_TRUE(b.starts_with("order-")) << b;
  EXPECT_EQ(eventCount(c.name, "retry") - retriesBefore, failing.requests());
}

TEST(Http2Proxy, GivesUpAfterTheConfiguredTriesAndNeverResendsABodyItDidNotKeep) {
  H2Backend failing([](const H2Backend::Request&) { return H2Backend::Reply{503, "busy"}; });
  Cluster c = h2Cluster("retry-limit", {failing.port()}, 2);
  c.retry.onGatewayError = true;
  Fixture f({c}, {routeTo({{0, 1}})});
  std::string small = "small";
  H2Answer a = h2Request(f.port, "POST", "/", "", &small);
  EXPECT_EQ(a.headers[":status"], "503");
  EXPECT_EQ(a.body, "busy");  // the last try's own answer
  EXPECT_EQ(failing.requests(), 3);  // the first try and two retries
  std::string large(100 * 1024, 'x');  // more than the proxy keeps for a retry
  a = h2Request(f.port, "POST", "/", "", &large);
  EXPECT_EQ(a.headers[":status"], "503");
  EXPECT_EQ(failing.requests(), 4);
  auto bodies = failing.bodies();
  EXPECT_EQ(bodies.back().size(), large.size());
}

TEST(Http2Proxy, RefusedAndResetStreamsAndRefusedConnectionsAreTriedElsewhere) {
  H2Backend refusing([](const H2Backend::Request&) { return H2Backend::Reply{200, "", "", NGHTTP2_REFUSED_STREAM}; });
  H2Backend resetting([](const H2Backend::Request&) { return H2Backend::Reply{200, "", "", NGHTTP2_INTERNAL_ERROR}; });
  H2Backend good([](const H2Backend::Request&) { return H2Backend::Reply{200, "fine"}; });
  int closedPort = freePort();  // nothing listens there: the connection is refused
  for (int bad : {refusing.port(), resetting.port(), closedPort}) {
    Cluster c = h2Cluster("retry-" + std::to_string(bad), {bad, good.port()}, 1);  // onConnectFailure is on by default
    Fixture f({c}, {routeTo({{0, 1}})});
    for (int i = 0; i < 6; ++i) {
      H2Answer a = h2Get(f.port, "/");
      EXPECT_EQ(a.headers[":status"], "200") << "port " << bad << ": " << a.body;
      EXPECT_EQ(a.body, "fine");
    }
  }
  EXPECT_GT(refusing.requests(), 0);
  EXPECT_GT(resetting.requests(), 0);
  // Without retries the caller learns what happened.
  Fixture none({h2Cluster("no-retry", {refusing.port()}, 0)}, {routeTo({{0, 1}})});
  H2Answer a = h2Get(none.port, "/");
  EXPECT_EQ(a.headers[":status"], "502");
  EXPECT_NE(a.body.find("refused the stream"), std::string::npos) << a.body;
}

TEST(Http2Proxy, GrpcUnavailableIsRetriedAndOtherGrpcStatusesPassThrough) {
  H2Backend unavailable([](const H2Backend::Request&) { return H2Backend::Reply{200, "", "14"}; });
  H2Backend notFound([](const H2Backend::Request&) { return H2Backend::Reply{200, "", "5"}; });
  H2Backend ok([](const H2Backend::Request&) { return H2Backend::Reply{200, "", "0"}; });
  Cluster c = h2Cluster("grpc-retry", {unavailable.port(), ok.port()}, 2);
  c.retry.onGatewayError = true;  // UNAVAILABLE stands for 503
  Fixture f({c}, {routeTo({{0, 1}})});
  for (int i = 0; i < 6; ++i) EXPECT_EQ(h2Get(f.port, "/shop.Catalog/List", "application/grpc").headers["grpc-status"], "0");
  EXPECT_GT(unavailable.requests(), 0);
  Cluster c2 = h2Cluster("grpc-no-retry", {notFound.port()}, 2);
  c2.retry.onGatewayError = true;
  Fixture f2({c2}, {routeTo({{0, 1}})});
  EXPECT_EQ(h2Get(f2.port, "/shop.Catalog/Get", "application/grpc").headers["grpc-status"], "5");
  EXPECT_EQ(notFound.requests(), 1);  // NOT_FOUND is an answer, not a failure
}

}  // namespace
}  // namespace skiff::proxy
