#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <poll.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include <condition_variable>
#include <mutex>
#include <map>
#include <optional>
#include <thread>
#include <variant>

#include "http/http.h"
#include "http/websocket_connection.h"
#include "common/base64.h"

namespace skiff::http {
namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

namespace {

// A connection that is either plain TCP or TLS; beast's sync read/write work on both.
using TlsSocket = asio::ssl::stream<tcp::socket>;
using Connection = std::variant<std::monostate, tcp::socket, TlsSocket>;

// Shuts down the sockets of calls that passed their deadline, so a blocking read returns. One
// process-wide thread; an armed entry is disarmed before its socket is closed.
class DeadlineReaper {
 public:
  using Clock = std::chrono::steady_clock;
  static DeadlineReaper& instance() {
    static DeadlineReaper* r = new DeadlineReaper;  // never destroyed: calls may run during exit
    return *r;
  }
  uint64_t arm(int fd, Clock::time_point deadline) {
    std::lock_guard lock(mutex_);
    uint64_t id = next_++;
    entries_[id] = {fd, deadline, false};
    cv_.notify_one();
    return id;
  }
  void rearm(uint64_t id, Clock::time_point deadline) {
    std::lock_guard lock(mutex_);
    if (auto it = entries_.find(id); it != entries_.end()) it->second.deadline = deadline;
  }
  // True when the deadline had passed (the socket was shut down).
  bool disarm(uint64_t id) {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return false;
    bool fired = it->second.fired;
    entries_.erase(it);
    return fired;
  }

 private:
  struct Entry {
    int fd;
    Clock::time_point deadline;
    bool fired;
  };
  DeadlineReaper() { std::thread([this] { run(); }).detach(); }
  void run() {
    std::unique_lock lock(mutex_);
    for (;;) {
      auto next = Clock::time_point::max();
      auto now = Clock::now();
      for (auto& [id, e] : entries_) {
        if (e.fired) continue;
        if (e.deadline <= now) {
          ::shutdown(e.fd, SHUT_RDWR);
          e.fired = true;
        } else {
          next = std::min(next, e.deadline);
        }
      }
      if (next == Clock::time_point::max()) cv_.wait(lock);
      else cv_.wait_until(lock, next);
    }
  }
  std::mutex mutex_;
  std::condition_variable cv_;
  std::map<uint64_t, Entry> entries_;
  uint64_t next_ = 1;
};

// Arms a deadline for one call on `fd` for the life of the guard.
class Deadline {
 public:
  Deadline(int fd, std::chrono::milliseconds timeout)
      : id_(timeout.count() > 0 && fd >= 0 ? DeadlineReaper::instance().arm(fd, DeadlineReaper::Clock::now() + timeout) : 0) {}
  ~Deadline() { expired(); }
  void extend(std::chrono::milliseconds timeout) {
    if (id_) DeadlineReaper::instance().rearm(id_, DeadlineReaper::Clock::now() + timeout);
  }
  bool expired() {
    if (id_) fired_ = DeadlineReaper::instance().disarm(id_) || fired_;
    id_ = 0;
    return fired_;
  }

 private:
  uint64_t id_;
  bool fired_ = false;
};

}  // namespace

// A TLS context with the last session its server handed out, so the next connection resumes it
// (no certificate exchange, no signatures: the handshake of a relay's new connection gets cheaper).
struct ClientTlsState {
  asio::ssl::context context{asio::ssl::context::tls_client};
  std::mutex mutex;
  SSL_SESSION* session = nullptr;  // guarded by mutex
  ClientTlsState() {
    SSL_CTX_set_ex_data(context.native_handle(), index(), this);  // asio owns the app data slot
    SSL_CTX_set_session_cache_mode(context.native_handle(), SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(context.native_handle(), [](SSL* ssl, SSL_SESSION* session) {
      auto* self = static_cast<ClientTlsState*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), index()));
      std::lock_guard lock(self->mutex);
      if (self->session) SSL_SESSION_free(self->session);
      self->session = session;
      return 1;  // ours now
    });
  }
  static int index() {
    static const int i = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return i;
  }
  ~ClientTlsState() {
    if (session) SSL_SESSION_free(session);
  }
  void resume(SSL* ssl) {
    std::lock_guard lock(mutex);
    if (session) SSL_set_session(ssl, session);
  }
};


void Cancellation::cancel() {
  std::lock_guard lock(mutex_);
  cancelled_ = true;
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
}
bool Cancellation::cancelled() const {
  std::lock_guard lock(mutex_);
  return cancelled_;
}
bool Cancellation::attach(int fd) {
  std::lock_guard lock(mutex_);
  if (cancelled_) return false;
  fd_ = fd;
  return true;
}
void Cancellation::detach() {
  std::lock_guard lock(mutex_);
  fd_ = -1;
}


struct Client::Impl {
  std::string host;
  uint16_t port = 0;
  std::string token;
  std::string caPem;
  std::string clientCertPem, clientKeyPem;  // presented when set (mTLS)
  std::string peer;  // what the server is, for messages ("" = the skiff API)
  std::chrono::milliseconds timeout{0};  // setTimeout: each request; also bounds connect and handshake
  asio::io_context io;
  // Shared with the connections of stream() and openWebSocket(), so the CA and client certificate
  // are parsed once per Client, not once per connection.
  std::shared_ptr<ClientTlsState> tls;
  Connection conn;
  beast::flat_buffer buffer;

  bool connected() const { return conn.index() != 0; }
  void disconnect() { conn.emplace<std::monostate>(); }

  // A machine that is down (or a route that drops packets) answers no SYN; the kernel would try
  // for two minutes, so each address gets connectTimeout() (the request timeout, or 10 s).
  std::chrono::milliseconds connectTimeout() const { return timeout.count() > 0 ? timeout : std::chrono::milliseconds(10000); }
  int nativeFd() {
    return std::visit(
        [](auto& s) -> int {
          if constexpr (std::is_same_v<std::decay_t<decltype(s)>, std::monostate>) return -1;
          else return detail::socketFd(s);
        },
        conn);
  }
  void connectWithin(tcp::socket& socket, const tcp::resolver::results_type& results, boost::system::error_code& ec) {
    ec = asio::error::host_not_found;
    for (const auto& entry : results) {
      socket.close(ec);
      socket.open(entry.endpoint().protocol(), ec);
      if (ec) continue;
      socket.non_blocking(true, ec);
      socket.connect(entry.endpoint(), ec);
      if (ec == asio::error::would_block || ec == asio::error::in_progress) {
        pollfd p{socket.native_handle(), POLLOUT, 0};
        int ready = ::poll(&p, 1, int(connectTimeout().count()));
        int err = 0;
        socklen_t len = sizeof err;
        if (ready == 0) err = ETIMEDOUT;
        else if (ready < 0 || getsockopt(socket.native_handle(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno ? errno : EIO;
        ec = boost::system::error_code(err, boost::system::system_category());
      }
      if (!ec) {
        socket.non_blocking(false, ec);
        if (!ec) return;
      }
    }
  }

  Status connect() {
    boost::system::error_code ec;
    tcp::resolver resolver(io);
    auto results = resolver.resolve(host, std::to_string(port), ec);
    tcp::socket socket(io);
    if (!ec) connectWithin(socket, results, ec);
    std::string where = host + ":" + std::to_string(port);
    if (ec) {
      if (!peer.empty()) return Error::unavailable("cannot reach " + peer + " at " + where + ": " + ec.message());
      return Error::unavailable("cannot reach the skiff API at " + where + ": " + ec.message() + " (is `skiff up` running?)");
    }
    socket.set_option(tcp::no_delay(true), ec);
    buffer.clear();
    if (caPem.empty()) {
      conn.emplace<tcp::socket>(std::move(socket));
      return {};
    }
    if (!tls) {
      tls = std::make_shared<ClientTlsState>();
      asio::ssl::context& context = tls->context;
      if (caPem == kSystemRoots) context.set_default_verify_paths(ec);
      else if (caPem != kUnverified) context.add_certificate_authority(asio::buffer(caPem), ec);
      if (ec) return Error::badRequest("the CA certificate in the kubeconfig is unusable: " + ec.message());
      context.set_verify_mode(caPem == kUnverified ? asio::ssl::verify_none : asio::ssl::verify_peer);
      if (!clientCertPem.empty()) {
        context.use_certificate_chain(asio::buffer(clientCertPem), ec);
        if (!ec) context.use_private_key(asio::buffer(clientKeyPem), asio::ssl::context::pem, ec);
        if (ec) {
          tls.reset();
          return Error::badRequest("the client certificate for " + where + " is unusable: " + ec.message());
        }
      }
    }
    auto& s = conn.emplace<TlsSocket>(std::move(socket), tls->context);
    if (caPem != kUnverified) s.set_verify_callback(asio::ssl::host_name_verification(host));
    tls->resume(s.native_handle());
    if (!std::isdigit(static_cast<unsigned char>(host[0])) && host.find(':') == std::string::npos)
      SSL_set_tlsext_host_name(s.native_handle(), host.c_str());
    {
      Deadline deadline(s.next_layer().native_handle(), connectTimeout());
      s.handshake(asio::ssl::stream_base::client, ec);
      if (deadline.expired() && ec) ec = asio::error::timed_out;
    }
    if (ec) {
      disconnect();
      if (!peer.empty()) return Error::unavailable("TLS handshake with " + peer + " at " + where + " failed: " + ec.message());
      return Error::unavailable("TLS handshake with " + where + " failed: " + ec.message() +
                                " (is the kubeconfig's certificate-authority-data from this server?)");
    }
    return {};
  }

  template <class F>
  auto withSocket(F&& f) {
    return std::visit(
        [&](auto& s) {
          if constexpr (std::is_same_v<std::decay_t<decltype(s)>, std::monostate>) {
            boost::system::error_code ec = asio::error::not_connected;
            return ec;
          } else {
            return f(s);
          }
        },
        conn);
  }

  beast::http::request<beast::http::string_body> makeRequest(const std::string& method, const std::string& target,
                                                             const std::string& body, const std::string& contentType,
                                                             const Headers& extra) {
    beast::http::request<beast::http::string_body> req;
    req.method_string(method);
    req.target(target);
    req.version(11);
    req.set(beast::http::field::host, host + ":" + std::to_string(port));
    req.set(beast::http::field::user_agent, "skiff/" SKIFF_VERSION);
    req.set(beast::http::field::accept, "application/json");
    if (!token.empty()) req.set(beast::http::field::authorization, "Bearer " + token);
    for (const auto& [k, v] : extra) req.set(k, v);
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
      req.set(beast::http::field::content_type, contentType);
      req.body() = body;
      req.prepare_payload();
    }
    return req;
  }
};

Client::Client(std::string host, uint16_t port, std::string bearerToken, std::string caPem, std::string peer)
    : impl_(std::make_unique<Impl>()) {
  impl_->peer = std::move(peer);
  impl_->host = std::move(host);
  impl_->port = port;
  impl_->token = std::move(bearerToken);
  impl_->caPem = std::move(caPem);
}
Client::~Client() = default;

void Client::setTimeout(std::chrono::milliseconds timeout) { impl_->timeout = timeout; }

void Client::setClientCertificate(std::string certPem, std::string keyPem) {
  impl_->clientCertPem = std::move(certPem);
  impl_->clientKeyPem = std::move(keyPem);
  impl_->tls.reset();
  impl_->disconnect();
}

Result<ClientResponse> Client::request(const std::string& method, const std::string& target, const std::string& body,
                                       const std::string& contentType, const Headers& extra) {
  auto req = impl_->makeRequest(method, target, body, contentType, extra);
  // A kept-alive connection may have been closed by the server meanwhile: retry once on a new one.
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool fresh = !impl_->connected();
    if (fresh)
      if (Status s = impl_->connect(); !s) return s.error();
    beast::http::response_parser<beast::http::string_body> parser;
    parser.body_limit(1ull << 32);
    Deadline deadline(impl_->nativeFd(), impl_->timeout);
    boost::system::error_code ec = impl_->withSocket([&](auto& s) {
      boost::system::error_code e;
      beast::http::write(s, req, e);
      if (!e) beast::http::read(s, impl_->buffer, parser, e);
      return e;
    });
    bool timedOut = deadline.expired();
    if (ec) {
      impl_->disconnect();
      if (timedOut)
        return Error::unavailable("request to " + impl_->host + ":" + std::to_string(impl_->port) + " timed out after " +
                                  std::to_string(impl_->timeout.count()) + " ms");
      if (!fresh) continue;
      return Error::unavailable("request to " + impl_->host + ":" + std::to_string(impl_->port) + " failed: " + ec.message());
    }
    auto& res = parser.get();
    ClientResponse out;
    out.status = res.result_int();
    for (const auto& f : res) {
      std::string name(f.name_string());
      std::transform(name.begin(), name.end(), name.begin(), ::tolower);
      out.headers[name] = std::string(f.value());
    }
    out.body = std::move(res.body());
    if (!res.keep_alive()) impl_->disconnect();
    return out;
  }
  return Error::unavailable("request failed");
}

Result<int> Client::stream(const std::string& target, const Headers& extra,
                           const std::function<bool(std::string_view)>& onData,
                           std::map<std::string, std::string>* headersOut, const StreamHooks* hooks) {
  // Streams use their own connection so the keep-alive one stays usable.
  Client::Impl conn;
  conn.host = impl_->host;
  conn.port = impl_->port;
  conn.token = impl_->token;
  conn.caPem = impl_->caPem;
  conn.clientCertPem = impl_->clientCertPem;
  conn.clientKeyPem = impl_->clientKeyPem;
  conn.tls = impl_->tls;
  conn.peer = impl_->peer;
  conn.timeout = impl_->timeout;
  Cancellation* cancel = hooks ? hooks->cancel : nullptr;
  std::chrono::milliseconds idleTimeout = hooks ? hooks->idleTimeout : std::chrono::milliseconds{};
  if (cancel && cancel->cancelled()) return Error::unavailable("streaming " + target + " was cancelled");
  if (Status s = conn.connect(); !s) return s.error();
  if (cancel && !cancel->attach(conn.nativeFd())) return Error::unavailable("streaming " + target + " was cancelled");
  struct Detach {
    Cancellation* c;
    ~Detach() {
      if (c) c->detach();
    }
  } detach{cancel};
  Deadline idle(conn.nativeFd(), idleTimeout);
  auto req = conn.makeRequest("GET", target, "", "", extra);
  int status = 0;
  // Shutting the socket down wakes the blocked read below when the caller no longer wants the rest.
  std::mutex watchMutex;
  std::condition_variable watchCv;
  bool finished = false;
  std::thread watcher;
  if (hooks && hooks->stillWanted) {
    int fd = std::visit(
        [](auto& s) -> int {
          if constexpr (std::is_same_v<std::decay_t<decltype(s)>, std::monostate>) return -1;
          else return detail::socketFd(s);
        },
        conn.conn);
    watcher = std::thread([&, fd] {
      std::unique_lock lock(watchMutex);
      while (!watchCv.wait_for(lock, std::chrono::milliseconds(200), [&] { return finished; }))
        if (!hooks->stillWanted()) {
          ::shutdown(fd, SHUT_RDWR);
          return;
        }
    });
  }
  auto stopWatching = [&] {
    if (!watcher.joinable()) return;
    {
      std::lock_guard lock(watchMutex);
      finished = true;
    }
    watchCv.notify_all();
    watcher.join();
  };
  boost::system::error_code ec = conn.withSocket([&](auto& s) {
    boost::system::error_code e;
    beast::http::write(s, req, e);
    if (e) return e;
    beast::http::response_parser<beast::http::buffer_body> parser;
    parser.body_limit(boost::none);
    beast::http::read_header(s, conn.buffer, parser, e);
    if (e) return e;
    status = parser.get().result_int();
    std::map<std::string, std::string> heads;
    heads[":status"] = std::to_string(status);
    for (const auto& f : parser.get()) {
      std::string name(f.name_string());
      std::transform(name.begin(), name.end(), name.begin(), ::tolower);
      heads[name] = std::string(f.value());
    }
    if (headersOut) *headersOut = heads;
    if (hooks && hooks->onHeaders) hooks->onHeaders(status, heads);
    char buf[65536];
    while (!parser.is_done()) {
      parser.get().body().data = buf;
      parser.get().body().size = sizeof buf;
      beast::http::read_some(s, conn.buffer, parser, e);
      if (e == beast::http::error::need_buffer) e = {};
      if (e) return e;
      idle.extend(idleTimeout);
      size_t n = sizeof buf - parser.get().body().size;
      if (n && !onData(std::string_view(buf, n))) break;
    }
    return boost::system::error_code{};
  });
  stopWatching();
  bool timedOut = idle.expired();
  if (ec && status == 0)
    return Error::unavailable("streaming " + target + " from " + (conn.peer.empty() ? "the skiff API" : conn.peer) + " failed: " +
                              (timedOut ? "no answer within " + std::to_string(idleTimeout.count()) + " ms" : ec.message()));
  if (ec && (timedOut || (cancel && cancel->cancelled())))
    return Error::unavailable("streaming " + target + (timedOut ? " stalled: nothing for " + std::to_string(idleTimeout.count()) + " ms" : " was cancelled"));
  return status;
}

Result<std::unique_ptr<WebSocket>> Client::openWebSocket(const std::string& target, const std::vector<std::string>& protocols) {
  auto conn = std::make_shared<Client::Impl>();
  conn->host = impl_->host;
  conn->port = impl_->port;
  conn->token = impl_->token;
  conn->caPem = impl_->caPem;
  conn->clientCertPem = impl_->clientCertPem;
  conn->clientKeyPem = impl_->clientKeyPem;
  conn->tls = impl_->tls;
  conn->peer = impl_->peer;
  conn->timeout = impl_->timeout;
  if (Status s = conn->connect(); !s) return s.error();
  std::string offered;
  for (const auto& p : protocols) offered += (offered.empty() ? "" : ", ") + p;
  unsigned char nonce[16];
  for (auto& b : nonce) b = static_cast<unsigned char>(std::rand());
  std::string key = base64Encode(std::string_view(reinterpret_cast<char*>(nonce), sizeof nonce));
  Headers extra{{"Upgrade", "websocket"}, {"Connection", "Upgrade"}, {"Sec-WebSocket-Version", "13"}, {"Sec-WebSocket-Key", key}};
  if (!offered.empty()) extra.emplace_back("Sec-WebSocket-Protocol", offered);
  auto req = conn->makeRequest("GET", target, "", "", extra);
  int status = 0;
  std::string protocol, body;
  boost::system::error_code ec = conn->withSocket([&](auto& s) {
    boost::system::error_code e;
    beast::http::write(s, req, e);
    if (e) return e;
    beast::http::response_parser<beast::http::string_body> parser;
    parser.skip(false);
    beast::http::read_header(s, conn->buffer, parser, e);
    if (e) return e;
    status = parser.get().result_int();
    protocol = std::string(parser.get()["Sec-WebSocket-Protocol"]);
    if (status != 101) beast::http::read(s, conn->buffer, parser, e);
    body = parser.get().body();
    return boost::system::error_code{};
  });
  if (ec) return Error::unavailable("opening a websocket to " + target + " failed: " + ec.message());
  if (status != 101) {
    boost::system::error_code jec;
    auto v = boost::json::parse(body, jec);
    std::string msg = !jec && v.is_object() && v.as_object().contains("message") ? std::string(v.at("message").as_string()) : body;
    return Error{status, "BadRequest", msg.empty() ? "the server refused the websocket upgrade (HTTP " + std::to_string(status) + ")" : msg, {}};
  }
  std::string already(static_cast<const char*>(conn->buffer.data().data()), conn->buffer.size());
  return std::visit(
      [&](auto& s) -> Result<std::unique_ptr<WebSocket>> {
        using S = std::decay_t<decltype(s)>;
        if constexpr (std::is_same_v<S, std::monostate>) {
          return Error::unavailable("not connected");
        } else {
          return std::unique_ptr<WebSocket>(std::make_unique<detail::SocketWebSocket<S>>(s, true, protocol, already, conn));
        }
      },
      conn->conn);
}

Result<std::pair<std::string, uint16_t>> parseHostPort(std::string_view address, uint16_t defaultPort) {
  std::string_view a = address;
  if (auto p = a.find("://"); p != std::string_view::npos) a.remove_prefix(p + 3);
  if (auto slash = a.find('/'); slash != std::string_view::npos) a = a.substr(0, slash);
  std::string host;
  uint16_t port = defaultPort;
  if (!a.empty() && a.front() == '[') {
    auto close = a.find(']');
    if (close == std::string_view::npos) return Error::badRequest("invalid address \"" + std::string(address) + "\"");
    host = std::string(a.substr(1, close - 1));
    a.remove_prefix(close + 1);
    if (!a.empty() && a.front() == ':') a.remove_prefix(1);
    else a = {};
  } else {
    auto colon = a.rfind(':');
    host = std::string(a.substr(0, colon));
    a = colon == std::string_view::npos ? std::string_view() : a.substr(colon + 1);
  }
  if (!a.empty()) {
    char* end = nullptr;
    std::string p(a);
    long v = std::strtol(p.c_str(), &end, 10);
    if (*end || v < 0 || v > 65535) return Error::badRequest("invalid port in \"" + std::string(address) + "\"");
    port = uint16_t(v);
  }
  if (host.empty()) return Error::badRequest("missing host in \"" + std::string(address) + "\"");
  return std::make_pair(host, port);
}

}  // namespace skiff::http
