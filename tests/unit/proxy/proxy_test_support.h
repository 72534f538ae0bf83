// Helpers for the node proxy's tests: loopback sockets, small blocking HTTP/1.1 and HTTP/2
// clients and backends, and a proxy with one listener over route tables built in the test.
#pragma once
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "proxy/http_proxy.h"

namespace skiff::proxy::proxytest {

inline int listenOn(int& port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  listen(fd, 128);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return fd;
}

inline int freePort() {
  int port;
  int fd = listenOn(port);
  close(fd);
  return port;
}

inline int connectTo(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// A connection to `port` once the proxy's worker has installed its listener (asynchronously).
inline int connectWhenListening(int port) {
  for (int i = 0; i < 200; ++i) {
    if (int fd = connectTo(port); fd >= 0) return fd;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return -1;
}

inline void sendAll(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    s.remove_prefix(size_t(n));
  }
}

struct Message {
  std::string head, body;
  int status = 0;
  std::string header(const std::string& lowerName) const {
    std::string lower = head;
    for (char& c : lower) c = char(std::tolower(static_cast<unsigned char>(c)));
    size_t at = lower.find("\r\n" + lowerName + ":");
    if (at == std::string::npos) return "";
    size_t start = at + 3 + lowerName.size();
    size_t end = head.find("\r\n", start);
    std::string v = head.substr(start, end - start);
    while (!v.empty() && v.front() == ' ') v.erase(0, 1);
    return v;
  }
};

// Reads one message (head + Content-Length or chunked body) from a blocking socket; `buf`
// carries bytes read past it.
inline bool readMessage(int fd, std::string& buf, Message& m) {
  auto fill = [&] {
    char tmp[16384];
    ssize_t n = recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf.append(tmp, size_t(n));
    return true;
  };
  size_t end;
  while ((end = buf.find("\r\n\r\n")) == std::string::npos)
    if (!fill()) return false;
  m.head = buf.substr(0, end + 4);
  buf.erase(0, end + 4);
  if (m.head.starts_with("HTTP/")) m.status = std::atoi(m.head.c_str() + 9);
  std::string cl = m.header("content-length");
  if (m.header("transfer-encoding") == "chunked") {
    m.body.clear();
    while (true) {
      size_t eol;
      while ((eol = buf.find("\r\n")) == std::string::npos)
        if (!fill()) return false;
      size_t size = std::stoul(buf.substr(0, eol), nullptr, 16);
      while (buf.size() < eol + 2 + size + 2)
        if (!fill()) return false;
      m.body += buf.substr(eol + 2, size);
      buf.erase(0, eol + 2 + size + 2);
      if (size == 0) break;
    }
  } else {
    size_t n = cl.empty() ? 0 : std::stoul(cl);
    while (buf.size() < n)
      if (!fill()) return false;
    m.body = buf.substr(0, n);
    buf.erase(0, n);
  }
  return true;
}

// A blocking HTTP/1.1 backend: a thread per connection, answers with `handler`.
class Backend {
 public:
  struct Reply {
    Reply() = default;
    Reply(int s, std::string b, int delay = 0) : status(s), body(std::move(b)), delayMs(delay) {}
    int status = 200;
    std::string body = "ok";
    int delayMs = 0;
    std::string extraHeaders;
    bool chunked = false;
    bool upgradeEcho = false;  // answer 101, then echo bytes
  };
  using Handler = std::function<Reply(const Message&)>;
  explicit Backend(Handler h) : handler_(std::move(h)) {
    fd_ = listenOn(port_);
    thread_ = std::thread([this] { acceptLoop(); });
  }
  ~Backend() {
    stopping_ = true;
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
    std::lock_guard lock(mutex_);
    for (int c : open_) shutdown(c, SHUT_RDWR);
    for (auto& t : workers_) t.join();
  }
  int port() const { return port_; }
  int accepted() const { return accepted_; }
  int requests() const { return requests_; }
  Message last() {
    std::lock_guard lock(mutex_);
    return last_;
  }

 private:
  void acceptLoop() {
    while (!stopping_) {
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      ++accepted_;
      std::lock_guard lock(mutex_);
      open_.push_back(c);
      workers_.emplace_back([this, c] { serve(c); });
    }
  }
  void serve(int c) {
    std::string buf;
    Message m;
    while (readMessage(c, buf, m)) {
      ++requests_;
      {
        std::lock_guard lock(mutex_);
        last_ = m;
      }
      Reply r = handler_(m);
      if (r.delayMs) std::this_thread::sleep_for(std::chrono::milliseconds(r.delayMs));
      if (r.upgradeEcho) {
        sendAll(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
        sendAll(c, buf);
        char tmp[4096];
        ssize_t n;
        while ((n = recv(c, tmp, sizeof tmp, 0)) > 0) sendAll(c, std::string_view(tmp, size_t(n)));
        break;
      }
      std::string out = "HTTP/1.1 " + std::to_string(r.status) + " X\r\n" + r.extraHeaders;
      if (r.chunked) {
        out += "Transfer-Encoding: chunked\r\n\r\n";
        for (char ch : r.body) out += "1\r\n" + std::string(1, ch) + "\r\n";
        out += "0\r\n\r\n";
      } else {
        out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n\r\n" + r.body;
      }
      sendAll(c, out);
    }
    close(c);
  }
  Handler handler_;
  int fd_ = -1, port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0}, requests_{0};
  std::thread thread_;
  std::mutex mutex_;
  std::vector<int> open_;
  std::vector<std::thread> workers_;
  Message last_;
};

// A UDP echo server on a loopback port, for as long as it lives.
class UdpEcho {
 public:
  UdpEcho() {
    fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      char buf[512];
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 50) != 1) continue;
        sockaddr_in from{};
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fl);
        if (n > 0) sendto(fd_, buf, size_t(n), 0, reinterpret_cast<sockaddr*>(&from), fl);
      }
    });
  }
  ~UdpEcho() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  int port() const { return port_; }

 private:
  int fd_ = -1, port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

inline Endpoint endpoint(int port) {
  Endpoint e;
  e.address.sin_family = AF_INET;
  e.address.sin_port = htons(uint16_t(port));
  e.address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  e.text = "127.0.0.1:" + std::to_string(port);
  e.workload = "backend";
  e.state = std::make_shared<EndpointState>();
  return e;
}

inline Cluster cluster(const std::string& name, std::vector<int> ports) {
  Cluster c;
  c.name = "test/" + name + ":80";
  c.ns = "test";
  c.service = name;
  for (int p : ports) c.endpoints.push_back(endpoint(p));
  c.state = std::make_shared<ClusterState>();
  c.outlier.enabled = false;
  return c;
}

inline Route routeTo(std::vector<std::pair<int, uint32_t>> backends) {
  Route r;
  r.name = "test/route/0";
  for (auto [c, w] : backends) {
    r.backends.push_back({c, w});
    r.totalWeight += w;
  }
  return r;
}

// The bytes OpenSSL's client really sends first, asking for `sni` ("" = no SNI).
inline std::string clientHelloBytes(const char* sni) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = SSL_new(ctx);
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, BIO_new(BIO_s_mem()), out);
  if (*sni) SSL_set_tlsext_host_name(ssl, sni);
  SSL_set_connect_state(ssl);
  (void)SSL_do_handshake(ssl);  // wants to read the ServerHello; the ClientHello is written
  char* data = nullptr;
  long n = BIO_get_mem_data(out, &data);
  std::string bytes(data, size_t(n));
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  return bytes;
}

// A proxy with one HTTP listener on a free port serving `routes` over `clusters`.
struct Fixture {
  Fixture(std::vector<Cluster> clusters, std::vector<Route> routes, ProxyOptions options = {}) : proxy(withOneWorker(options)) {
    port = freePort();
    auto t = std::make_shared<RouteTable>();
    t->version = 1;
    t->clusters = std::move(clusters);
    Listener l;
    l.ip = "127.0.0.1";
    l.port = port;
    l.key = "127.0.0.1:" + std::to_string(port);
    l.name = "test";
    VirtualHost vh;
    vh.routes = std::move(routes);
    l.hosts.push_back(std::move(vh));
    t->listeners.push_back(std::move(l));
    table = t;
    EXPECT_TRUE(proxy.start());
    proxy.update(table);
    if (int fd = connectWhenListening(port); fd >= 0) close(fd);
  }
  static ProxyOptions withOneWorker(ProxyOptions o) {
    if (!o.workers) o.workers = 1;
    return o;
  }
  // One request on a fresh connection.
  Message get(const std::string& path, const std::string& extra = "") {
    int fd = connectTo(port);
    Message m;
    std::string buf;
    if (fd < 0) return m;
    sendAll(fd, "GET " + path + " HTTP/1.1\r\nHost: shop\r\n" + extra + "\r\n");
    readMessage(fd, buf, m);
    close(fd);
    return m;
  }
  HttpProxy proxy;
  std::shared_ptr<RouteTable> table;
  int port = 0;
};


// ---- HTTP/2 ----

// A blocking HTTP/2 client for one request (nghttp2), enough to see what the proxy answers.
// `headers` holds the response's headers and trailers.
struct H2Answer {
  std::map<std::string, std::string> headers;
  std::string body;
  bool closed = false;
  uint32_t resetCode = 0;
};
struct H2Upload {
  std::string body;
  size_t offset = 0;
};
// The request on a connected socket `fd` (closed after), for `authority`. With `bodyNeverEnds`
// the request says a body follows and never sends it (a client that stalls).
inline H2Answer h2RequestOn(int fd, const std::string& method, const std::string& path, const std::string& contentType = "",
                            const std::string* body = nullptr, const std::string& authority = "shop", bool bodyNeverEnds = false) {
  H2Answer a;
  if (fd < 0) return a;
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_header_callback(
      cbs, [](nghttp2_session*, const nghttp2_frame*, const uint8_t* n, size_t nl, const uint8_t* v, size_t vl, uint8_t, void* u) {
        static_cast<H2Answer*>(u)->headers[std::string(reinterpret_cast<const char*>(n), nl)] = std::string(reinterpret_cast<const char*>(v), vl);
        return 0;
      });
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, [](nghttp2_session*, uint8_t, int32_t, const uint8_t* d, size_t l, void* u) {
    static_cast<H2Answer*>(u)->body.append(reinterpret_cast<const char*>(d), l);
    return 0;
  });
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, [](nghttp2_session*, int32_t, uint32_t code, void* u) {
    static_cast<H2Answer*>(u)->closed = true;
    static_cast<H2Answer*>(u)->resetCode = code;
    return 0;
  });
  nghttp2_session* s = nullptr;
  nghttp2_session_client_new(&s, cbs, &a);
  nghttp2_session_callbacks_del(cbs);
  nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, nullptr, 0);
  std::vector<std::pair<std::string, std::string>> h{{":method", method}, {":scheme", "http"}, {":authority", authority}, {":path", path}};
  if (!contentType.empty()) h.emplace_back("content-type", contentType);
  std::vector<nghttp2_nv> nva;
  for (auto& [k, v] : h)
    nva.push_back({reinterpret_cast<uint8_t*>(k.data()), reinterpret_cast<uint8_t*>(v.data()), k.size(), v.size(), NGHTTP2_NV_FLAG_NONE});
  H2Upload upload;
  nghttp2_data_provider provider{};
  if (body) {
    upload.body = *body;
    provider.source.ptr = &upload;
    provider.read_callback = [](nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags, nghttp2_data_source* src, void*) {
      auto* up = static_cast<H2Upload*>(src->ptr);
      size_t n = std::min(length, up->body.size() - up->offset);
      std::memcpy(buf, up->body.data() + up->offset, n);
      up->offset += n;
      if (up->offset == up->body.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
      return ssize_t(n);
    };
  }
  if (bodyNeverEnds)
    provider.read_callback = [](nghttp2_session*, int32_t, uint8_t*, size_t, uint32_t*, nghttp2_data_source*, void*) -> ssize_t {
      return NGHTTP2_ERR_DEFERRED;
    };
  nghttp2_submit_request(s, nullptr, nva.data(), nva.size(), body || bodyNeverEnds ? &provider : nullptr, nullptr);
  for (int rounds = 0; rounds < 2000 && !a.closed; ++rounds) {
    const uint8_t* data;
    ssize_t n;
    while ((n = nghttp2_session_mem_send(s, &data)) > 0) sendAll(fd, {reinterpret_cast<const char*>(data), size_t(n)});
    char buf[16384];
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 5000) <= 0) break;
    ssize_t r = recv(fd, buf, sizeof buf, 0);
    if (r <= 0) break;
    if (nghttp2_session_mem_recv(s, reinterpret_cast<const uint8_t*>(buf), size_t(r)) < 0) break;
  }
  nghttp2_session_del(s);
  close(fd);
  return a;
}
inline H2Answer h2Request(int port, const std::string& method, const std::string& path, const std::string& contentType = "",
                          const std::string* body = nullptr) {
  return h2RequestOn(connectTo(port), method, path, contentType, body);
}
inline H2Answer h2Get(int port, const std::string& path, const std::string& contentType = "") { return h2Request(port, "GET", path, contentType); }

}  // namespace skiff::proxy::proxytest
