// The API server's front door: an epoll loop that owns idle and arriving connections, a fixed
// pool of workers for handlers, and loop-written event streams. See http.h for the model.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <climits>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <ctime>
#include <deque>
#include <list>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "common/log.h"
#include "http/http.h"
#include "http/websocket_connection.h"
#include "proxy/event_loop.h"
#include "proxy/http1.h"

namespace skiff::http {

std::string Request::header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}
std::optional<bool> parseBool(std::string_view v) {
  if (v == "1" || v == "t" || v == "T" || v == "TRUE" || v == "true" || v == "True") return true;
  if (v == "0" || v == "f" || v == "F" || v == "FALSE" || v == "false" || v == "False") return false;
  return std::nullopt;
}

bool Request::queryFlag(const std::string& name) const { return parseBool(queryValue(name)).value_or(false); }

std::string Request::queryValue(const std::string& name) const {
  auto it = query.find(name);
  return it == query.end() ? std::string() : it->second;
}

std::string percentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += char(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else if (s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string percentEncode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out += char(c);
    else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

namespace {

using Clock = std::chrono::steady_clock;
namespace http1 = proxy::http1;

// The IMF-fixdate every answer carries (RFC 9110 6.6.1): clients (a joining node) compare it with
// their own clock. Formatted once a second per thread.
const std::string& httpDate() {
  thread_local std::time_t last = 0;
  thread_local std::string text;
  std::time_t now = std::time(nullptr);
  if (now != last) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    text = buf;
    last = now;
  }
  return text;
}

std::string statusLine(int status) {
  return "HTTP/1.1 " + std::to_string(status) + " " + http1::reasonPhrase(status) + "\r\nDate: " + httpDate() + "\r\n";
}

std::string statusJson(int code, const std::string& reason, const std::string& message) {
  return boost::json::serialize(boost::json::object{{"kind", "Status"}, {"apiVersion", "v1"}, {"metadata", boost::json::object()},
                                                    {"status", "Failure"}, {"message", message}, {"reason", reason}, {"code", code}});
}

// A whole answer that closes the connection, for refusals made before any handler runs.
std::string closingAnswer(int status, const std::string& reason, const std::string& message, const std::string& extraHeaders = "") {
  std::string body = statusJson(status, reason, message);
  return statusLine(status) + "Content-Type: application/json\r\nConnection: close\r\n" + extraHeaders +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::string chunkFrame(std::string_view data) {
  char size[20];
  int n = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  std::string out;
  out.reserve(size_t(n) + data.size() + 2);
  out.append(size, size_t(n)).append(data).append("\r\n");
  return out;
}

// Connection sockets carry no other status flag (accept4 gives O_NONBLOCK only), so the flags
// are set outright: one syscall per switch, twice per request.
void setBlocking(int fd, bool blocking) { fcntl(fd, F_SETFL, blocking ? 0 : O_NONBLOCK); }

// Splits a raw target into the decoded path and query parameters.
void parseTarget(Request& r) {
  std::string_view target = r.target;
  auto q = target.find('?');
  r.path = percentDecode(target.substr(0, q));
  if (q == std::string_view::npos) return;
  std::string_view qs = target.substr(q + 1);
  while (!qs.empty()) {
    auto amp = qs.find('&');
    std::string_view pair = qs.substr(0, amp);
    auto eq = pair.find('=');
    if (!pair.empty())
      r.query.emplace(percentDecode(pair.substr(0, eq)), eq == std::string_view::npos ? std::string() : percentDecode(pair.substr(eq + 1)));
    if (amp == std::string_view::npos) break;
    qs.remove_prefix(amp + 1);
  }
}

Request requestFromHead(const http1::Head& head, const std::string& remote) {
  Request r;
  r.method = std::string(head.method);
  r.target = std::string(head.target);
  parseTarget(r);
  for (const auto& h : head.headers) {
    std::string name(h.name);
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    // A field sent more than once is one list (RFC 9110 5.3): Impersonate-Group, Accept, ...
    auto [it, fresh] = r.headers.try_emplace(name, h.value);
    if (!fresh) it->second += (name == "cookie" ? "; " : ", ") + std::string(h.value);
  }
  r.remoteAddress = remote;
  return r;
}

class ServerImpl;
class EventStreamImpl;

// One client connection. The loop thread owns it except while a worker runs its request
// (state kWorker): then only that worker touches it, and hands it back through the loop.
struct Conn final : proxy::EventLoop::Handler {
  enum class State { kHandshake, kHead, kBody, kWorker, kStreaming, kFlushing };
  Conn(ServerImpl& s, int f, SSL* t, std::string r) : server(s), fd(f), ssl(t), remote(std::move(r)) {}
  ~Conn() override {
    if (ssl) SSL_free(ssl);
    if (fd >= 0) ::close(fd);
  }
  void onEvents(uint32_t events) override;

  // Non-blocking on the loop, blocking on a worker. >0 bytes, 0 = would block, -1 = gone.
  ssize_t readSome(char* buf, size_t n);
  ssize_t writeSome(const char* p, size_t n);
  // Blocking (worker) write of everything; false once the client is gone or the write timed out.
  bool writeAll(std::string_view data);

  ServerImpl& server;
  int fd;
  SSL* ssl;
  std::string remote;
  State state = State::kHandshake;
  Clock::time_point deadline;
  bool sawRequest = false;  // some request of this connection was admitted
  bool closed = false;
  std::list<Conn*>::iterator position;
  std::string in;  // bytes read and not yet consumed
  // The request being read.
  Request request;
  bool chunked = false;
  uint64_t bodyLeft = 0;
  http1::ChunkedFramer framer;
  bool longRunning = false;
  // Streaming.
  std::shared_ptr<EventStreamImpl> stream;
  std::string out;  // framed bytes on their way out
  size_t outSent = 0;
  Clock::time_point nextTick;
};

// Blocking socket adapter for the WebSocket template (read_some / write_some, fd, TLS session).
struct ConnSocket {
  Conn& conn;
  template <class Buffers>
  size_t read_some(const Buffers& buffers, boost::system::error_code& ec) {
    auto b = *boost::asio::buffer_sequence_begin(buffers);
    ssize_t n = conn.readSome(static_cast<char*>(b.data()), b.size());
    if (n <= 0) {
      ec = boost::asio::error::eof;
      return 0;
    }
    ec = {};
    return size_t(n);
  }
  template <class Buffers>
  size_t write_some(const Buffers& buffers, boost::system::error_code& ec) {
    for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it) {
      boost::asio::const_buffer b = *it;
      if (b.size() == 0) continue;
      ssize_t n = conn.writeSome(static_cast<const char*>(b.data()), b.size());
      if (n <= 0) {
        ec = boost::asio::error::broken_pipe;
        return 0;
      }
      ec = {};
      return size_t(n);
    }
    ec = {};
    return 0;
  }
};
int socketFd(ConnSocket& s) { return s.conn.fd; }
SSL* tlsSessionOf(ConnSocket& s) { return s.conn.ssl; }

ssize_t Conn::readSome(char* buf, size_t n) {
  if (ssl) {
    ERR_clear_error();
    int r = SSL_read(ssl, buf, int(std::min<size_t>(n, INT_MAX)));
    if (r > 0) return r;
    int e = SSL_get_error(ssl, r);
    return (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) ? 0 : -1;
  }
  while (true) {
    ssize_t r = ::recv(fd, buf, n, 0);
    if (r > 0) return r;
    if (r == 0) return -1;
    if (errno == EINTR) continue;
    return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
  }
}

ssize_t Conn::writeSome(const char* p, size_t n) {
  if (ssl) {
    ERR_clear_error();
    int r = SSL_write(ssl, p, int(std::min<size_t>(n, INT_MAX)));
    if (r > 0) return r;
    int e = SSL_get_error(ssl, r);
    return (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) ? 0 : -1;
  }
  while (true) {
    ssize_t r = ::send(fd, p, n, MSG_NOSIGNAL);
    if (r >= 0) return r;
    if (errno == EINTR) continue;
    return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
  }
}

bool Conn::writeAll(std::string_view data) {
  while (!data.empty()) {
    ssize_t n = writeSome(data.data(), data.size());
    if (n <= 0) return false;  // blocking socket: 0 means SO_SNDTIMEO ran out
    data.remove_prefix(size_t(n));
  }
  return true;
}

// The event stream of one watch: a queue of shared chunks under a byte budget.
class EventStreamImpl final : public EventStream, public std::enable_shared_from_this<EventStreamImpl> {
 public:
  EventStreamImpl(ServerImpl& server, EventStreamOptions options) : server_(server), options_(std::move(options)) {}
  bool push(Chunk chunk) override;
  void end() override;
  bool ended() const override {
    std::lock_guard lock(mutex_);
    return ended_;
  }
  // Loop thread: moves queued chunks, framed, onto `out` (at most about `limit` bytes). True
  // when the stream has ended and nothing is left to take.
  bool take(std::string& out, size_t limit);
  const EventStreamOptions& options() const { return options_; }
  // Runs onEnd the first time it is called.
  void runOnEnd() {
    if (!onEndRan_.exchange(true) && options_.onEnd) options_.onEnd();
  }
  Conn* conn = nullptr;  // loop thread only: set once the loop writes this stream

 private:
  void wakeLoop();
  ServerImpl& server_;
  EventStreamOptions options_;
  mutable std::mutex mutex_;
  std::deque<Chunk> queue_;
  size_t queuedBytes_ = 0;
  bool ended_ = false;
  bool wakePending_ = false;
  std::atomic<bool> onEndRan_{false};
};

class ServerImpl final : public Server {
 public:
  ServerImpl(ServerOptions options, Handler handler) : options_(std::move(options)), handler_(std::move(handler)) {}
  ~ServerImpl() override {
    stop();
    if (tls_.load()) SSL_CTX_free(tls_.load());
  }

  Status start();
  Status replaceCertificate(const std::string& certPem, const std::string& keyPem) override;
  void readClientCertificate(SSL* ssl, Request& r) const;
  uint16_t port() const override { return port_; }
  ServerStats stats() const override {
    std::lock_guard lock(jobsMutex_);
    ServerStats s = stats_;
    s.connections = connectionCount_.load();
    s.streams = streamCount_.load();
    s.queued = jobs_.size();
    s.longRunning = longRunning_;
    return s;
  }
  void stop() override;

  // Loop thread.
  void onAcceptable();
  void onConnEvents(Conn& c, uint32_t events);
  void closeConn(Conn& c);
  // Any thread: runs `f` on the loop.
  void post(std::function<void()> f) { loop_.post(std::move(f)); }
  proxy::EventLoop& loop() { return loop_; }
  const ServerOptions& options() const { return options_; }
  void streamEnded(std::shared_ptr<EventStreamImpl> stream);
  // Worker thread: the request has been answered.
  void finishRequest(Conn& c, bool keepAlive, std::shared_ptr<EventStreamImpl> stream);
  void noteOverflow() {
    std::lock_guard lock(jobsMutex_);
    ++stats_.overflowed;
  }
  // Every stream lives in this set from its start until its onEnd has run, so stopping the
  // server can end the ones still open (their store watches must not outlive the server).
  void streamStarted(const std::shared_ptr<EventStreamImpl>& s) {
    std::lock_guard lock(jobsMutex_);
    streams_.insert(s);
  }

 private:
  // A TLS context with this certificate (and the client CA, when one is set); the caller owns it.
  Result<SSL_CTX*> makeTlsContext(const std::string& certPem, const std::string& keyPem) const;
  Status trustClientCa(SSL_CTX* ctx) const;
  void refuseOrEvict(int fd);
  void handshake(Conn& c);
  void readRequest(Conn& c);
  bool parseHead(Conn& c);
  void afterHead(Conn& c);
  bool readBody(Conn& c);
  void dispatch(Conn& c);
  void enterHead(Conn& c, bool keepAliveWait);
  void refuse(Conn& c, const std::string& answer);
  void writeStream(Conn& c);
  void sweep(Clock::time_point now);
  void runWorker();
  void runRequest(Conn& c);
  void runOnWorker(std::function<void()> task);

  ServerOptions options_;
  Handler handler_;
  proxy::EventLoop loop_;
  // Swapped whole by replaceCertificate (sessions hold a reference to the context they began on).
  std::atomic<SSL_CTX*> tls_{nullptr};
  std::mutex tlsMutex_;  // a swap vs SSL_new on the loop thread
  int listenFd_ = -1;
  uint16_t port_ = 0;
  std::thread loopThread_;
  std::atomic<bool> stopped_{false};
  std::list<Conn*> conns_;  // oldest first; loop thread only
  std::atomic<size_t> connectionCount_{0}, streamCount_{0};
  Clock::time_point lastSweep_ = Clock::now();
  Clock::time_point lastRefusalLog_;

  // Work for the worker pool: a request to run, or a stream's clean-up.
  mutable std::mutex jobsMutex_;
  std::condition_variable jobsReady_, drained_;
  // A job's user is counted in queuedPerUser_ until a worker takes the job (under the same lock).
  struct Job {
    std::function<void()> run;
    std::optional<std::string> user;  // none for a stream's clean-up (not counted)
  };
  std::deque<Job> jobs_;
  std::map<std::string, size_t> queuedPerUser_;
  std::vector<std::thread> workers_;
  bool stopWorkers_ = false;
  std::set<std::shared_ptr<EventStreamImpl>> streams_;
  std::unique_ptr<proxy::EventLoop::Handler> listener_;
  size_t longRunning_ = 0, busy_ = 0;
  ServerStats stats_;
};

void Conn::onEvents(uint32_t events) {
  if (!closed) server.onConnEvents(*this, events);
}

struct Listener final : proxy::EventLoop::Handler {
  explicit Listener(ServerImpl& s) : server(s) {}
  void onEvents(uint32_t) override { server.onAcceptable(); }
  ServerImpl& server;
};

// ---- event streams ----

bool EventStreamImpl::push(Chunk chunk) {
  bool accepted = true, wake = false;
  {
    std::lock_guard lock(mutex_);
    if (ended_) return false;
    if (queuedBytes_ + chunk->size() > options_.maxQueuedBytes) {
      accepted = false;
      // Fallen behind: what is queued is dropped and the client hears why, then the stream ends.
      queue_.clear();
      queuedBytes_ = 0;
      if (options_.overflowChunk)
        if (Chunk last = options_.overflowChunk()) queue_.push_back(std::move(last));
      ended_ = true;
      server_.noteOverflow();
    } else {
      queuedBytes_ += chunk->size();
      queue_.push_back(std::move(chunk));
    }
    wake = !wakePending_;
    wakePending_ = true;
  }
  if (wake) wakeLoop();
  return accepted;
}

void EventStreamImpl::end() {
  {
    std::lock_guard lock(mutex_);
    if (ended_) return;
    ended_ = true;
    if (wakePending_) return;
    wakePending_ = true;
  }
  wakeLoop();
}

void EventStreamImpl::wakeLoop() {
  server_.post([self = shared_from_this()] {
    {
      std::lock_guard lock(self->mutex_);
      self->wakePending_ = false;
    }
    if (self->conn) self->conn->onEvents(EPOLLOUT);
  });
}

bool EventStreamImpl::take(std::string& out, size_t limit) {
  std::lock_guard lock(mutex_);
  while (!queue_.empty() && out.size() < limit) {
    out += chunkFrame(*queue_.front());
    queuedBytes_ -= std::min(queuedBytes_, queue_.front()->size());
    queue_.pop_front();
  }
  return ended_ && queue_.empty();
}

// ---- exchanges run by workers ----

class ChunkedStream final : public Stream {
 public:
  explicit ChunkedStream(Conn& c) : conn_(c) {}
  bool write(std::string_view chunk) override {
    if (broken_) return false;
    if (chunk.empty()) return true;
    if (!conn_.writeAll(chunkFrame(chunk))) broken_ = true;
    return !broken_;
  }
  bool clientGone() override {
    if (broken_) return true;
    pollfd p{conn_.fd, POLLIN | POLLRDHUP, 0};
    if (::poll(&p, 1, 0) > 0) {
      if (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) return broken_ = true;
      char c;
      if (::recv(conn_.fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0) return broken_ = true;
    }
    return false;
  }
  void finish() {
    if (!broken_) conn_.writeAll("0\r\n\r\n");
  }

 private:
  Conn& conn_;
  std::atomic<bool> broken_{false};  // clientGone() may be asked from another thread (relays)
};

class WorkerExchange final : public Exchange {
 public:
  WorkerExchange(ServerImpl& server, Conn& conn) : server_(server), conn_(conn) {
    keepAlive_ = conn.request.header("connection").find("close") == std::string::npos;
  }

  const Request& request() const override { return conn_.request; }

  void respond(Response r) override {
    if (answered_) return;
    answered_ = true;
    std::string head = statusLine(r.status);
    head += "Content-Type: " + r.contentType + "\r\n";
    head += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
    head += keepAlive_ ? "" : "Connection: close\r\n";
    head += "Cache-Control: no-cache, private\r\n";
    for (const auto& [k, v] : r.headers) head += k + ": " + v + "\r\n";
    head += "\r\n";
    // A HEAD answer names the length a GET would have but carries no body (RFC 9110 9.3.2).
    if (conn_.request.method == "HEAD") r.body.clear();
    // A small answer goes out in one write; a large one (a list of 100,000 pods is 368 MB) is
    // not copied behind its head first.
    constexpr size_t kCoalesce = 64 * 1024;
    if (r.body.size() <= kCoalesce) {
      head += r.body;
      if (!conn_.writeAll(head)) keepAlive_ = false;
    } else if (!conn_.writeAll(head) || !conn_.writeAll(r.body)) {
      keepAlive_ = false;
    }
  }

  Stream& startStream(int status, std::string contentType, Headers headers) override {
    answered_ = true;
    keepAlive_ = false;  // a stream ends the connection, as Kubernetes watches do
    conn_.writeAll(streamHead(status, contentType, headers));
    stream_ = std::make_unique<ChunkedStream>(conn_);
    return *stream_;
  }

  std::shared_ptr<EventStream> startEventStream(int status, std::string contentType, EventStreamOptions options) override {
    answered_ = true;
    keepAlive_ = false;
    if (!conn_.writeAll(streamHead(status, contentType, {}))) directBroken_ = true;
    eventStream_ = std::make_shared<EventStreamImpl>(server_, std::move(options));
    server_.streamStarted(eventStream_);
    return eventStream_;
  }

  bool writeDirect(std::string_view chunk) override {
    if (directBroken_ || chunk.empty()) return !directBroken_;
    if (!conn_.writeAll(chunkFrame(chunk))) directBroken_ = true;
    return !directBroken_;
  }

  Result<WebSocket*> upgradeToWebSocket(const std::vector<std::string>& protocols) override {
    std::string upgrade = conn_.request.header("upgrade");
    std::transform(upgrade.begin(), upgrade.end(), upgrade.begin(), ::tolower);
    std::string key = conn_.request.header("sec-websocket-key");
    if (upgrade != "websocket" || key.empty()) return Error::badRequest("not a WebSocket upgrade request");
    std::string chosen = chooseProtocol(protocols);
    if (!protocols.empty() && chosen.empty())
      return Error::badRequest("none of the offered WebSocket protocols (" + conn_.request.header("sec-websocket-protocol") + ") is supported");
    std::string head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
                       webSocketAccept(key) + "\r\n";
    if (!chosen.empty()) head += "Sec-WebSocket-Protocol: " + chosen + "\r\n";
    head += "\r\n";
    answered_ = true;
    keepAlive_ = false;
    if (!conn_.writeAll(head)) return Error::unavailable("writing the upgrade response failed: the client is gone");
    socket_ = std::make_unique<ConnSocket>(ConnSocket{conn_});
    std::string already = std::move(conn_.in);
    conn_.in.clear();
    webSocket_ = std::make_unique<detail::SocketWebSocket<ConnSocket>>(*socket_, false, chosen, std::move(already));
    return webSocket_.get();
  }

  bool answered() const { return answered_; }
  bool keepAlive() const { return keepAlive_; }
  std::shared_ptr<EventStreamImpl> eventStream() const { return directBroken_ ? nullptr : eventStream_; }
  std::shared_ptr<EventStreamImpl> anyEventStream() const { return eventStream_; }
  void finish() {
    if (stream_) stream_->finish();
  }

 private:
  static std::string streamHead(int status, const std::string& contentType, const Headers& headers) {
    std::string head = statusLine(status);
    head += "Content-Type: " + contentType + "\r\nTransfer-Encoding: chunked\r\nCache-Control: no-cache, private\r\n";
    for (const auto& [k, v] : headers) head += k + ": " + v + "\r\n";
    return head + "\r\n";
  }
  std::string chooseProtocol(const std::vector<std::string>& protocols) const {
    std::string offered = conn_.request.header("sec-websocket-protocol");
    for (size_t start = 0; start < offered.size();) {
      size_t comma = offered.find(',', start);
      std::string p = offered.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      p.erase(0, p.find_first_not_of(' '));
      p.erase(p.find_last_not_of(' ') + 1);
      if (std::find(protocols.begin(), protocols.end(), p) != protocols.end()) return p;
      start = comma == std::string::npos ? offered.size() : comma + 1;
    }
    return "";
  }

  ServerImpl& server_;
  Conn& conn_;
  bool keepAlive_ = true;
  bool answered_ = false;
  bool directBroken_ = false;
  std::unique_ptr<ChunkedStream> stream_;
  std::shared_ptr<EventStreamImpl> eventStream_;
  std::unique_ptr<ConnSocket> socket_;
  std::unique_ptr<WebSocket> webSocket_;
};

// ---- the server ----

Result<SSL_CTX*> ServerImpl::makeTlsContext(const std::string& certPem, const std::string& keyPem) const {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) return Error::internal("cannot create a TLS context");
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> owned(ctx, SSL_CTX_free);
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  std::unique_ptr<BIO, decltype(&BIO_free)> certs(BIO_new_mem_buf(certPem.data(), int(certPem.size())), BIO_free);
  X509* leaf = PEM_read_bio_X509(certs.get(), nullptr, nullptr, nullptr);
  bool ok = leaf && SSL_CTX_use_certificate(ctx, leaf) == 1;
  X509_free(leaf);
  while (ok) {
    X509* extra = PEM_read_bio_X509(certs.get(), nullptr, nullptr, nullptr);
    if (!extra) break;
    if (SSL_CTX_add_extra_chain_cert(ctx, extra) != 1) {
      X509_free(extra);
      ok = false;
    }
  }
  ERR_clear_error();  // the end of the PEM list reads as an error
  std::unique_ptr<BIO, decltype(&BIO_free)> keyBio(BIO_new_mem_buf(keyPem.data(), int(keyPem.size())), BIO_free);
  EVP_PKEY* key = ok ? PEM_read_bio_PrivateKey(keyBio.get(), nullptr, nullptr, nullptr) : nullptr;
  ok = key && SSL_CTX_use_PrivateKey(ctx, key) == 1 && SSL_CTX_check_private_key(ctx) == 1;
  EVP_PKEY_free(key);
  if (!ok) return Error::internal("cannot load the TLS certificate and key: they are not PEM, or do not belong together");
  if (!options_.clientCaPem.empty())
    if (Status s = trustClientCa(ctx); !s) return s.error();
  return owned.release();
}

Status ServerImpl::replaceCertificate(const std::string& certPem, const std::string& keyPem) {
  if (!tls_.load()) return Error::badRequest("this server does not speak TLS");
  auto ctx = makeTlsContext(certPem, keyPem);
  if (!ctx) return ctx.error();
  SSL_CTX* old;
  {
    std::lock_guard lock(tlsMutex_);
    old = tls_.exchange(*ctx);
  }
  SSL_CTX_free(old);  // connections that began on it keep their own reference
  return {};
}

Status ServerImpl::trustClientCa(SSL_CTX* ctx) const {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(options_.clientCaPem.data(), int(options_.clientCaPem.size())), BIO_free);
  STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  int added = 0;
  while (X509* ca = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    if (X509_STORE_add_cert(store, ca) == 1) ++added;
    sk_X509_NAME_push(names, X509_NAME_dup(X509_get_subject_name(ca)));
    X509_free(ca);
  }
  ERR_clear_error();
  if (added == 0) {
    sk_X509_NAME_pop_free(names, X509_NAME_free);
    return Error::internal("the client CA is not a PEM certificate");
  }
  SSL_CTX_set_client_CA_list(ctx, names);
  // Every outcome is accepted here and judged from SSL_get_verify_result per request.
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, [](int, X509_STORE_CTX*) { return 1; });
  static const unsigned char kSessionContext[] = "skiff";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
  return {};
}

namespace {
std::string nameEntry(X509_NAME* name, int nid) {
  int i = X509_NAME_get_index_by_NID(name, nid, -1);
  if (i < 0) return "";
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
  unsigned char* utf8 = nullptr;
  int n = ASN1_STRING_to_UTF8(&utf8, data);
  if (n < 0) return "";
  std::string out(reinterpret_cast<char*>(utf8), size_t(n));
  OPENSSL_free(utf8);
  return out;
}
}  // namespace

void ServerImpl::readClientCertificate(SSL* ssl, Request& r) const {
  if (!ssl || options_.clientCaPem.empty()) return;
  X509* peer = SSL_get1_peer_certificate(ssl);
  if (!peer) return;
  long verdict = SSL_get_verify_result(ssl);
  if (verdict == X509_V_OK) {
    r.clientCommonName = nameEntry(X509_get_subject_name(peer), NID_commonName);
    X509_NAME* subject = X509_get_subject_name(peer);
    for (int i = X509_NAME_get_index_by_NID(subject, NID_organizationName, -1); i >= 0;
         i = X509_NAME_get_index_by_NID(subject, NID_organizationName, i)) {
      unsigned char* utf8 = nullptr;
      int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i)));
      if (n >= 0) r.clientOrganizations.emplace_back(reinterpret_cast<char*>(utf8), size_t(n));
      OPENSSL_free(utf8);
    }
  } else {
    r.clientCertificateProblem = std::string("the client certificate is not valid here: ") + X509_verify_cert_error_string(verdict);
  }
  X509_free(peer);
}

// Raising the soft descriptor limit to the hard one lets the connection cap, not the kernel,
// decide how many clients are held.
void raiseFileLimit(size_t want) {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur >= want + 1024) return;
  lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, want + 1024);
  setrlimit(RLIMIT_NOFILE, &lim);
}

Status ServerImpl::start() {
  if (!options_.tlsCertPem.empty()) {
    auto ctx = makeTlsContext(options_.tlsCertPem, options_.tlsKeyPem);
    if (!ctx) return ctx.error();
    tls_ = *ctx;
  }
  raiseFileLimit(options_.maxConnections);
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(options_.host, ec);
  if (ec) return Error::badRequest("invalid listen address \"" + options_.host + "\": " + ec.message());
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (address.is_v4()) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(options_.port);
    auto bytes = address.to_v4().to_bytes();
    std::memcpy(&a->sin_addr, bytes.data(), 4);
    len = sizeof(sockaddr_in);
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(options_.port);
    auto bytes = address.to_v6().to_bytes();
    std::memcpy(&a->sin6_addr, bytes.data(), 16);
    len = sizeof(sockaddr_in6);
  }
  listenFd_ = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  std::string where = options_.host + ":" + std::to_string(options_.port);
  if (listenFd_ < 0 || setsockopt(listenFd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      ::bind(listenFd_, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(listenFd_, 4096) != 0)
    return Error::unavailable("cannot listen on " + where + ": " + std::strerror(errno));
  sockaddr_storage bound{};
  socklen_t boundLen = sizeof bound;
  getsockname(listenFd_, reinterpret_cast<sockaddr*>(&bound), &boundLen);
  port_ = ntohs(bound.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  listener_ = std::make_unique<Listener>(*this);
  loop_.add(listenFd_, listener_.get(), EPOLLIN);
  loop_.onTick([this](Clock::time_point now) {
    if (now - lastSweep_ >= std::chrono::milliseconds(100)) sweep(now);
  });
  loop_.setTicking(true);
  for (size_t i = 0; i < std::max<size_t>(1, options_.workers); ++i) workers_.emplace_back([this] { runWorker(); });
  loopThread_ = std::thread([this] { loop_.run(); });
  return {};
}

void ServerImpl::stop() {
  if (stopped_.exchange(true)) return;
  if (!loopThread_.joinable()) return;
  // Wake every worker blocked on a client; they hand their connections back.
  post([this] {
    ::shutdown(listenFd_, SHUT_RDWR);
    for (Conn* c : conns_) ::shutdown(c->fd, SHUT_RDWR);
  });
  {
    std::unique_lock lock(jobsMutex_);
    drained_.wait(lock, [&] { return busy_ == 0 && longRunning_ == 0 && jobs_.empty(); });
  }
  loop_.stop();
  loopThread_.join();
  {
    std::lock_guard lock(jobsMutex_);
    stopWorkers_ = true;
    jobsReady_.notify_all();
  }
  for (auto& w : workers_) w.join();
  workers_.clear();
  std::set<std::shared_ptr<EventStreamImpl>> open;
  {
    std::lock_guard lock(jobsMutex_);
    open.swap(streams_);
  }
  for (const auto& stream : open) {
    stream->conn = nullptr;
    stream->end();
    stream->runOnEnd();
  }
  for (Conn* c : conns_) delete c;
  conns_.clear();
  loop_.collect();
  ::close(listenFd_);
}

void ServerImpl::onAcceptable() {
  for (int i = 0; i < 256 && !stopped_; ++i) {
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    int fd = ::accept4(listenFd_, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE) refuseOrEvict(-1);
      return;
    }
    if (connectionCount_ >= options_.maxConnections) {
      refuseOrEvict(fd);
      if (connectionCount_ >= options_.maxConnections) continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    // Bounds a worker's blocking writes; set once here (non-blocking writes ignore it).
    timeval sendTimeout{time_t(options_.writeTimeout.count() / 1000), suseconds_t(options_.writeTimeout.count() % 1000 * 1000)};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &sendTimeout, sizeof sendTimeout);
    char host[INET6_ADDRSTRLEN] = "";
    uint16_t port = 0;
    if (peer.ss_family == AF_INET) {
      auto* a = reinterpret_cast<sockaddr_in*>(&peer);
      inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
      port = ntohs(a->sin_port);
    } else if (peer.ss_family == AF_INET6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&peer);
      inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
      port = ntohs(a->sin6_port);
    }
    // The TLS session is made once the client's first record has arrived whole (handshake()):
    // until then a connection costs its small Conn, not OpenSSL's tens of kilobytes.
    auto* c = new Conn(*this, fd, nullptr, std::string(host) + ":" + std::to_string(port));
    c->position = conns_.insert(conns_.end(), c);
    ++connectionCount_;
    if (tls_) {
      c->state = Conn::State::kHandshake;
      c->deadline = loop_.now() + options_.handshakeTimeout;
    } else {
      enterHead(*c, false);
    }
    loop_.add(fd, c);
  }
}

// At the cap the oldest connection that has not sent a request yet makes room: an idle or
// dribbling flood cannot lock out a client that talks at once. With nothing to evict, the new
// connection is refused (plain HTTP hears why; TLS cannot be answered before a handshake).
void ServerImpl::refuseOrEvict(int fd) {
  Conn* victim = nullptr;
  for (Conn* c : conns_)
    if (!c->sawRequest && (c->state == Conn::State::kHandshake || c->state == Conn::State::kHead)) {
      victim = c;
      break;
    }
  auto now = loop_.now();
  bool logNow = now - lastRefusalLog_ >= std::chrono::seconds(10);
  if (logNow) lastRefusalLog_ = now;
  {
    std::lock_guard lock(jobsMutex_);
    ++(victim ? stats_.evicted : stats_.refused);
  }
  if (victim) {
    if (logNow)
      log::warn("http", "connection limit (" + std::to_string(options_.maxConnections) +
                            ") reached: closing the oldest connections that sent no request to make room");
    closeConn(*victim);
    return;
  }
  if (logNow) log::warn("http", "connection limit (" + std::to_string(options_.maxConnections) + ") reached: refusing new connections");
  if (fd >= 0) {
    if (!tls_) {
      std::string answer = closingAnswer(503, "ServiceUnavailable", "the server holds its limit of connections; retry later",
                                         "Retry-After: 1\r\n");
      (void)::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    ::close(fd);
  }
}

void ServerImpl::closeConn(Conn& c) {
  if (c.closed) return;
  c.closed = true;
  loop_.remove(c.fd);
  conns_.erase(c.position);
  --connectionCount_;
  if (c.stream) {
    --streamCount_;
    c.stream->conn = nullptr;
    c.stream->end();
    streamEnded(std::move(c.stream));
  }
  loop_.retire(&c);
}

void ServerImpl::streamEnded(std::shared_ptr<EventStreamImpl> stream) {
  runOnWorker([this, stream] {
    stream->runOnEnd();
    std::lock_guard lock(jobsMutex_);
    streams_.erase(stream);
  });
}

void ServerImpl::enterHead(Conn& c, bool keepAliveWait) {
  c.state = Conn::State::kHead;
  c.deadline = loop_.now() + (keepAliveWait ? options_.idleTimeout : options_.headerTimeout);
  if (c.in.empty()) std::string().swap(c.in);  // an idle connection keeps no buffer
}

void ServerImpl::onConnEvents(Conn& c, uint32_t events) {
  switch (c.state) {
    case Conn::State::kHandshake: handshake(c); break;
    case Conn::State::kHead:
    case Conn::State::kBody: readRequest(c); break;
    case Conn::State::kStreaming:
    case Conn::State::kFlushing:
      if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        // A watcher says nothing; reading tells whether it is still there.
        char buf[4096];
        ssize_t n = 0;
        for (int i = 0; i < 16 && (n = c.readSome(buf, sizeof buf)) > 0; ++i) {
        }
        if (n != 0 || (events & (EPOLLHUP | EPOLLERR))) {  // gone, or talking more than a watcher does
          closeConn(c);
          return;
        }
      }
      writeStream(c);
      break;
    case Conn::State::kWorker: break;
  }
}

// True once the first TLS record (the ClientHello) is whole in the kernel's buffer; the bytes
// stay there for OpenSSL to read. A client that dribbles its hello holds no memory of ours.
bool firstRecordArrived(Conn& c, bool& gone) {
  unsigned char head[5];
  ssize_t n = ::recv(c.fd, head, sizeof head, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) gone = true;
  if (n < 5) return false;
  size_t want = 5 + ((size_t(head[3]) << 8) | head[4]);
  static thread_local std::vector<char> peek(5 + 65535);
  return ::recv(c.fd, peek.data(), want, MSG_PEEK | MSG_DONTWAIT) >= ssize_t(want);
}

void ServerImpl::handshake(Conn& c) {
  if (!c.ssl) {
    bool gone = false;
    if (!firstRecordArrived(c, gone)) {
      if (gone) closeConn(c);
      return;
    }
    {
      std::lock_guard lock(tlsMutex_);
      c.ssl = SSL_new(tls_.load());
    }
    SSL_set_fd(c.ssl, c.fd);
    SSL_set_accept_state(c.ssl);
  }
  ERR_clear_error();
  int r = SSL_do_handshake(c.ssl);
  if (r == 1) {
    enterHead(c, false);
    readRequest(c);
    return;
  }
  int e = SSL_get_error(c.ssl, r);
  if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) closeConn(c);
}

void ServerImpl::readRequest(Conn& c) {
  char buf[16384];
  // A refusal closes the connection with its bytes still buffered: stop there, or they would be
  // parsed again and again.
  while (!c.closed && (c.state == Conn::State::kHead || c.state == Conn::State::kBody)) {
    // Bytes already here (pipelined, or left from the head) are used before reading more.
    if (c.state == Conn::State::kHead && !c.in.empty() && parseHead(c)) continue;
    if (c.state == Conn::State::kBody && readBody(c)) continue;
    if (c.closed || (c.state != Conn::State::kHead && c.state != Conn::State::kBody)) return;
    size_t room = c.state == Conn::State::kHead ? options_.maxHeaderBytes + 4 - std::min(c.in.size(), options_.maxHeaderBytes)
                                                : sizeof buf;
    ssize_t n = c.readSome(buf, std::min(sizeof buf, room));
    if (n == 0) return;
    if (n < 0) {
      closeConn(c);
      return;
    }
    if (c.state == Conn::State::kHead && c.in.empty()) c.deadline = loop_.now() + options_.headerTimeout;
    c.in.append(buf, size_t(n));
  }
}

// True when it made progress (a head was taken, or the connection was refused).
bool ServerImpl::parseHead(Conn& c) {
  http1::Head head;
  http1::Error error;
  switch (http1::parseRequest(c.in, options_.maxHeaderBytes, head, error)) {
    case http1::Parse::kIncomplete: return false;
    case http1::Parse::kError:
      refuse(c, closingAnswer(error.status, error.status == 431 ? "RequestHeaderFieldsTooLarge" : "BadRequest",
                              "malformed HTTP request: " + error.reason));
      return true;
    case http1::Parse::kComplete: break;
  }
  c.request = requestFromHead(head, c.remote);
  readClientCertificate(c.ssl, c.request);
  c.chunked = head.framing == http1::Framing::kChunked;
  c.bodyLeft = head.framing == http1::Framing::kLength ? head.contentLength : 0;
  bool expectContinue = head.expectContinue;
  c.in.erase(0, head.length);
  if (!c.chunked && c.bodyLeft > options_.maxBodyBytes) {
    refuse(c, closingAnswer(413, "RequestEntityTooLarge", "request body is larger than the " + std::to_string(options_.maxBodyBytes) + " byte limit"));
    return true;
  }
  afterHead(c);
  if (!c.closed && c.state == Conn::State::kBody && expectContinue) c.writeAll("HTTP/1.1 100 Continue\r\n\r\n");
  return true;
}

// The head is in: admit it before a single body byte is read.
void ServerImpl::afterHead(Conn& c) {
  Admission admission;
  if (options_.admit) admission = options_.admit(c.request);
  if (admission.refusal) {
    Response& r = *admission.refusal;
    std::string answer = statusLine(r.status) + "Content-Type: " + r.contentType + "\r\nConnection: close\r\n";
    for (const auto& [k, v] : r.headers) answer += k + ": " + v + "\r\n";
    answer += "Content-Length: " + std::to_string(r.body.size()) + "\r\n\r\n";
    if (c.request.method != "HEAD") answer += r.body;
    refuse(c, answer);
    return;
  }
  c.request.user = admission.user;
  c.request.groups = std::move(admission.groups);
  c.longRunning = admission.longRunning;
  c.sawRequest = true;
  c.framer = {};
  c.state = Conn::State::kBody;
  c.deadline = loop_.now() + options_.bodyTimeout;
}

// True when it made progress.
bool ServerImpl::readBody(Conn& c) {
  if (c.chunked) {
    size_t used = c.framer.feed(c.in.data(), c.in.size(), &c.request.body);
    c.in.erase(0, used);
    if (c.framer.failed()) {
      refuse(c, closingAnswer(400, "BadRequest", "malformed chunked request body"));
      return true;
    }
    if (c.request.body.size() > options_.maxBodyBytes) {
      refuse(c, closingAnswer(413, "RequestEntityTooLarge", "request body is larger than the " + std::to_string(options_.maxBodyBytes) + " byte limit"));
      return true;
    }
    if (!c.framer.done()) return false;
  } else {
    size_t take = size_t(std::min<uint64_t>(c.bodyLeft, c.in.size()));
    c.request.body.append(c.in, 0, take);
    c.in.erase(0, take);
    c.bodyLeft -= take;
    if (c.bodyLeft > 0) return false;
  }
  dispatch(c);
  return true;
}

// Answers and closes without running a handler (the client may still be sending: it is not read).
void ServerImpl::refuse(Conn& c, const std::string& answer) {
  setBlocking(c.fd, false);
  c.writeSome(answer.data(), answer.size());  // best effort: a refusal never waits on a client
  closeConn(c);
}

void ServerImpl::dispatch(Conn& c) {
  c.state = Conn::State::kWorker;
  loop_.remove(c.fd);
  std::unique_lock lock(jobsMutex_);
  const std::string& user = c.request.user;
  std::string tooMany;
  if (c.longRunning ? longRunning_ >= options_.maxLongRunning : jobs_.size() >= options_.maxQueued)
    tooMany = "the server is busy with other requests";
  else if (!c.longRunning && queuedPerUser_[user] >= options_.maxQueuedPerUser)
    tooMany = "this client has too many requests waiting";
  if (!tooMany.empty()) {
    lock.unlock();
    refuse(c, closingAnswer(429, "TooManyRequests", "Too many requests, please try again later (" + tooMany + ").", "Retry-After: 1\r\n"));
    return;
  }
  Conn* conn = &c;
  if (c.longRunning) {
    ++longRunning_;
    lock.unlock();
    std::thread([this, conn] {
      runRequest(*conn);
      std::lock_guard l(jobsMutex_);
      --longRunning_;
      drained_.notify_all();
    }).detach();
    return;
  }
  ++queuedPerUser_[user];
  jobs_.push_back({[this, conn] { runRequest(*conn); }, user});
  jobsReady_.notify_one();
}

void ServerImpl::runOnWorker(std::function<void()> task) {
  std::lock_guard lock(jobsMutex_);
  jobs_.push_back({std::move(task), std::nullopt});
  jobsReady_.notify_one();
}

void ServerImpl::runWorker() {
  while (true) {
    std::function<void()> job;
    {
      std::unique_lock lock(jobsMutex_);
      jobsReady_.wait(lock, [&] { return !jobs_.empty() || stopWorkers_; });
      if (jobs_.empty()) return;
      Job& front = jobs_.front();
      if (front.user)
        if (auto it = queuedPerUser_.find(*front.user); it != queuedPerUser_.end() && --it->second == 0) queuedPerUser_.erase(it);
      job = std::move(front.run);
      jobs_.pop_front();
      ++busy_;
    }
    try {
      job();
    } catch (const std::exception& e) {
      log::error("http", std::string("worker task failed: ") + e.what());
    }
    std::lock_guard lock(jobsMutex_);
    --busy_;
    drained_.notify_all();
  }
}

void ServerImpl::runRequest(Conn& c) {
  setBlocking(c.fd, true);
  WorkerExchange exchange(*this, c);
  try {
    handler_(exchange);
  } catch (const std::exception& e) {
    log::error("http", std::string("handler failed: ") + e.what());
    if (!exchange.answered()) exchange.respond({500, "application/json", {}, statusJson(500, "InternalError", "internal error")});
  }
  if (!exchange.answered()) exchange.respond({500, "text/plain", {}, "no response"});
  exchange.finish();
  auto stream = exchange.eventStream();
  if (!stream && exchange.anyEventStream()) {
    exchange.anyEventStream()->end();
    streamEnded(exchange.anyEventStream());
  }
  finishRequest(c, exchange.keepAlive() && !stopped_, std::move(stream));
}

void ServerImpl::finishRequest(Conn& c, bool keepAlive, std::shared_ptr<EventStreamImpl> stream) {
  Conn* conn = &c;
  post([this, conn, keepAlive, stream = std::move(stream)]() mutable {
    Conn& c = *conn;
    setBlocking(c.fd, false);
    c.request = Request();
    if (stopped_ || (!keepAlive && !stream)) {
      closeConn(c);
      return;
    }
    if (stream) {
      c.state = Conn::State::kStreaming;
      c.stream = std::move(stream);
      c.stream->conn = &c;
      c.nextTick = loop_.now() + c.stream->options().tickInterval;
      ++streamCount_;
    } else {
      enterHead(c, true);
    }
    if (!loop_.add(c.fd, &c)) {
      closeConn(c);
      return;
    }
    if (c.stream) writeStream(c);
    else readRequest(c);  // a pipelined request may already be here
  });
}

void ServerImpl::writeStream(Conn& c) {
  constexpr size_t kBatch = 16 * 1024;  // per connection while its client does not read: keep it small
  while (!c.closed) {
    if (c.outSent == c.out.size()) {
      c.out.clear();
      c.outSent = 0;
      bool done = c.stream->take(c.out, kBatch);
      if (done && c.state == Conn::State::kStreaming) {
        c.out += "0\r\n\r\n";
        c.state = Conn::State::kFlushing;
        c.deadline = loop_.now() + options_.writeTimeout;  // last words to a client that may not read
      }
      if (c.out.empty()) {
        if (c.state == Conn::State::kFlushing) closeConn(c);
        std::string().swap(c.out);
        return;
      }
    }
    ssize_t n = c.writeSome(c.out.data() + c.outSent, c.out.size() - c.outSent);
    if (n == 0) return;  // EPOLLOUT resumes
    if (n < 0) {
      closeConn(c);
      return;
    }
    c.outSent += size_t(n);
  }
}

void ServerImpl::sweep(Clock::time_point now) {
  lastSweep_ = now;
  uint64_t timedOut = 0;
  for (auto it = conns_.begin(); it != conns_.end();) {
    Conn& c = **it++;  // closing erases c from the list
    switch (c.state) {
      case Conn::State::kHandshake:
      case Conn::State::kHead:
      case Conn::State::kBody:
      case Conn::State::kFlushing:
        if (now >= c.deadline) {
          ++timedOut;
          closeConn(c);
        }
        break;
      case Conn::State::kStreaming:
        if (now >= c.nextTick && c.stream->options().onTick) {
          c.nextTick = now + c.stream->options().tickInterval;
          c.stream->options().onTick(*c.stream);
        }
        break;
      case Conn::State::kWorker: break;
    }
  }
  if (timedOut) {
    std::lock_guard lock(jobsMutex_);
    stats_.timedOut += timedOut;
  }
}

}  // namespace

Result<std::unique_ptr<Server>> listen(const ServerOptions& options, Handler handler) {
  // TLS writes go through OpenSSL's socket BIO (write(2), not send with MSG_NOSIGNAL): a client
  // that left must make a write fail, not kill the process. Every process that serves ignores it.
  static std::once_flag ignorePipe;
  std::call_once(ignorePipe, [] { ::signal(SIGPIPE, SIG_IGN); });
  auto server = std::make_unique<ServerImpl>(options, std::move(handler));
  if (Status s = server->start(); !s) return s.error();
  return std::unique_ptr<Server>(std::move(server));
}

}  // namespace skiff::http
