#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <set>
#include <thread>

#include "common/log.h"
#include "http/http.h"
#include "http/websocket_connection.h"

namespace skiff::http {
namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

std::string Request::header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}
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

const char* reasonPhrase(int status) {
  return beast::http::obsolete_reason(static_cast<beast::http::status>(status)).data();
}

std::string statusLine(int status) { return "HTTP/1.1 " + std::to_string(status) + " " + reasonPhrase(status) + "\r\n"; }

template <class Socket>
int nativeHandle(Socket& s) {
  if constexpr (std::is_same_v<Socket, tcp::socket>) return s.native_handle();
  else return s.next_layer().native_handle();
}

template <class Socket>
class ChunkedStream final : public Stream {
 public:
  explicit ChunkedStream(Socket& socket) : socket_(socket) {}
  bool write(std::string_view chunk) override {
    if (broken_) return false;
    if (chunk.empty()) return true;
    char size[20];
    int n = std::snprintf(size, sizeof size, "%zx\r\n", chunk.size());
    std::array<asio::const_buffer, 3> bufs{asio::buffer(size, n), asio::buffer(chunk.data(), chunk.size()),
                                           asio::buffer("\r\n", 2)};
    boost::system::error_code ec;
    asio::write(socket_, bufs, ec);
    if (ec) broken_ = true;
    return !broken_;
  }
  bool clientGone() override {
    if (broken_) return true;
    int fd = nativeHandle(socket_);
    pollfd p{fd, POLLIN | POLLRDHUP, 0};
    if (::poll(&p, 1, 0) > 0) {
      if (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) return broken_ = true;
      char c;
      ssize_t r = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
      if (r == 0) return broken_ = true;
    }
    return false;
  }
  void finish() {
    boost::system::error_code ec;
    if (!broken_) asio::write(socket_, asio::buffer("0\r\n\r\n", 5), ec);
  }

 private:
  Socket& socket_;
  bool broken_ = false;
};

template <class Socket>
class ConnectionExchange final : public Exchange {
 public:
  ConnectionExchange(Socket& socket, Request request, bool keepAlive, beast::flat_buffer& buffer)
      : socket_(socket), request_(std::move(request)), keepAlive_(keepAlive), buffer_(buffer) {}

  Result<WebSocket*> upgradeToWebSocket(const std::vector<std::string>& protocols) override {
    std::string upgrade = request_.header("upgrade");
    std::transform(upgrade.begin(), upgrade.end(), upgrade.begin(), ::tolower);
    std::string key = request_.header("sec-websocket-key");
    if (upgrade != "websocket" || key.empty()) return Error::badRequest("not a WebSocket upgrade request");
    std::string chosen;
    std::string offered = request_.header("sec-websocket-protocol");
    for (size_t start = 0; start < offered.size() && chosen.empty();) {
      size_t comma = offered.find(',', start);
      std::string p = offered.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      p.erase(0, p.find_first_not_of(' '));
      p.erase(p.find_last_not_of(' ') + 1);
      if (std::find(protocols.begin(), protocols.end(), p) != protocols.end()) chosen = p;
      start = comma == std::string::npos ? offered.size() : comma + 1;
    }
    if (!protocols.empty() && chosen.empty()) return Error::badRequest("none of the offered WebSocket protocols (" + offered + ") is supported");
    std::string head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
                       webSocketAccept(key) + "\r\n";
    if (!chosen.empty()) head += "Sec-WebSocket-Protocol: " + chosen + "\r\n";
    head += "\r\n";
    boost::system::error_code ec;
    asio::write(socket_, asio::buffer(head), ec);
    answered_ = true;
    keepAlive_ = false;
    if (ec) return Error::unavailable("writing the upgrade response failed: " + ec.message());
    std::string already(static_cast<const char*>(buffer_.data().data()), buffer_.size());
    buffer_.consume(buffer_.size());
    webSocket_ = std::make_unique<detail::SocketWebSocket<Socket>>(socket_, false, chosen, std::move(already));
    return webSocket_.get();
  }

  const Request& request() const override { return request_; }

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
    std::array<asio::const_buffer, 2> bufs{asio::buffer(head), asio::buffer(r.body)};
    boost::system::error_code ec;
    asio::write(socket_, bufs, ec);
    if (ec) keepAlive_ = false;
  }

  Stream& startStream(int status, std::string contentType, Headers headers) override {
    answered_ = true;
    keepAlive_ = false;  // a stream ends the connection, as Kubernetes watches do
    std::string head = statusLine(status);
    head += "Content-Type: " + contentType + "\r\nTransfer-Encoding: chunked\r\nCache-Control: no-cache, private\r\n";
    for (const auto& [k, v] : headers) head += k + ": " + v + "\r\n";
    head += "\r\n";
    boost::system::error_code ec;
    asio::write(socket_, asio::buffer(head), ec);
    stream_ = std::make_unique<ChunkedStream<Socket>>(socket_);
    return *stream_;
  }

  bool answered() const { return answered_; }
  bool keepAlive() const { return keepAlive_; }
  void finish() {
    if (stream_) stream_->finish();
  }

 private:
  Socket& socket_;
  Request request_;
  bool keepAlive_;
  bool answered_ = false;
  beast::flat_buffer& buffer_;
  std::unique_ptr<ChunkedStream<Socket>> stream_;
  std::unique_ptr<WebSocket> webSocket_;
};

Request toRequest(const beast::http::request<beast::http::string_body>& req, const std::string& remote) {
  Request r;
  r.method = std::string(req.method_string());
  r.target = std::string(req.target());
  std::string_view target = r.target;
  auto q = target.find('?');
  r.path = percentDecode(target.substr(0, q));
  if (q != std::string_view::npos) {
    std::string_view qs = target.substr(q + 1);
    while (!qs.empty()) {
      auto amp = qs.find('&');
      std::string_view pair = qs.substr(0, amp);
      auto eq = pair.find('=');
      if (!pair.empty())
        r.query.emplace(percentDecode(pair.substr(0, eq)),
                        eq == std::string_view::npos ? std::string() : percentDecode(pair.substr(eq + 1)));
      if (amp == std::string_view::npos) break;
      qs.remove_prefix(amp + 1);
    }
  }
  for (const auto& f : req) {
    std::string name(f.name_string());
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    r.headers[name] = std::string(f.value());
  }
  r.body = req.body();
  r.remoteAddress = remote;
  return r;
}

class ServerImpl final : public Server {
 public:
  ServerImpl(ServerOptions options, Handler handler)
      : options_(std::move(options)), handler_(std::move(handler)), acceptor_(io_), tls_(asio::ssl::context::tls_server) {}

  ~ServerImpl() override { stop(); }

  Status start() {
    boost::system::error_code ec;
    if (!options_.tlsCertPem.empty()) {
      tls_.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
      tls_.use_certificate_chain(asio::buffer(options_.tlsCertPem), ec);
      if (!ec) tls_.use_private_key(asio::buffer(options_.tlsKeyPem), asio::ssl::context::pem, ec);
      if (ec) return Error::internal("cannot load the TLS certificate: " + ec.message());
      useTls_ = true;
    }
    auto address = asio::ip::make_address(options_.host, ec);
    if (ec) return Error::badRequest("invalid listen address \"" + options_.host + "\": " + ec.message());
    tcp::endpoint ep(address, options_.port);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      return Error::unavailable("cannot listen on " + options_.host + ":" + std::to_string(options_.port) + ": " +
                                ec.message());
    port_ = acceptor_.local_endpoint().port();
    acceptThread_ = std::thread([this] { acceptLoop(); });
    return {};
  }

  uint16_t port() const override { return port_; }

  void stop() override {
    if (stopped_.exchange(true)) return;
    boost::system::error_code ec;
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    acceptor_.close(ec);
    if (acceptThread_.joinable()) acceptThread_.join();
    std::unique_lock lock(mutex_);
    for (int fd : openSockets_) ::shutdown(fd, SHUT_RDWR);
    drained_.wait(lock, [&] { return active_ == 0; });
  }

 private:
  void acceptLoop() {
    while (!stopped_) {
      tcp::socket socket(io_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec) {
        if (stopped_) return;
        if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space) {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        continue;
      }
      socket.set_option(tcp::no_delay(true), ec);
      std::lock_guard lock(mutex_);
      ++active_;
      openSockets_.insert(socket.native_handle());
      std::thread([this, s = std::move(socket)]() mutable { serve(std::move(s)); }).detach();
    }
  }

  void serve(tcp::socket socket) {
    int fd = socket.native_handle();
    std::string remote;
    boost::system::error_code ec;
    auto ep = socket.remote_endpoint(ec);
    if (!ec) remote = ep.address().to_string() + ":" + std::to_string(ep.port());
    if (useTls_) {
      asio::ssl::stream<tcp::socket> tls(std::move(socket), tls_);
      tls.handshake(asio::ssl::stream_base::server, ec);
      if (!ec) serveRequests(tls, remote);
      tls.shutdown(ec);
      tls.next_layer().shutdown(tcp::socket::shutdown_both, ec);
      tls.next_layer().close(ec);
    } else {
      serveRequests(socket, remote);
      socket.shutdown(tcp::socket::shutdown_both, ec);
      socket.close(ec);
    }
    std::lock_guard lock(mutex_);
    openSockets_.erase(fd);
    if (--active_ == 0) drained_.notify_all();
  }

  template <class Socket>
  void serveRequests(Socket& socket, const std::string& remote) {
    boost::system::error_code ec;
    beast::flat_buffer buffer;
    while (!stopped_) {
      beast::http::request_parser<beast::http::string_body> parser;
      parser.body_limit(options_.maxBodyBytes);
      parser.header_limit(uint32_t(options_.maxHeaderBytes));
      beast::http::read(socket, buffer, parser, ec);
      if (ec) {
        if (ec == beast::http::error::body_limit) {
          writeError(socket, 413, "request body is larger than the " + std::to_string(options_.maxBodyBytes) + " byte limit");
        } else if (ec == beast::http::error::header_limit) {
          writeError(socket, 431, "request headers are larger than the limit");
        } else if (ec != beast::http::error::end_of_stream && ec != asio::error::eof &&
                   ec != asio::error::connection_reset && ec != asio::error::operation_aborted && buffer.size() > 0) {
          writeError(socket, 400, "malformed HTTP request: " + ec.message());
        }
        break;
      }
      auto& req = parser.get();
      ConnectionExchange<Socket> exchange(socket, toRequest(req, remote), req.keep_alive(), buffer);
      try {
        handler_(exchange);
      } catch (const std::exception& e) {
        log::error("http", std::string("handler failed: ") + e.what());
        if (!exchange.answered()) exchange.respond({500, "application/json", {}, R"({"kind":"Status","apiVersion":"v1","status":"Failure","reason":"InternalError","code":500,"message":"internal error"})"});
      }
      if (!exchange.answered()) exchange.respond({500, "text/plain", {}, "no response"});
      exchange.finish();
      if (!exchange.keepAlive()) break;
    }
  }

  template <class Socket>
  static void writeError(Socket& socket, int status, const std::string& message) {
    std::string body = boost::json::serialize(boost::json::object{
        {"kind", "Status"}, {"apiVersion", "v1"}, {"metadata", boost::json::object()}, {"status", "Failure"},
        {"message", message}, {"reason", status == 413 ? "RequestEntityTooLarge" : "BadRequest"}, {"code", status}});
    std::string out = statusLine(status) + "Content-Type: application/json\r\nConnection: close\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n" + body;
    boost::system::error_code ec;
    asio::write(socket, asio::buffer(out), ec);
  }

  ServerOptions options_;
  Handler handler_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread acceptThread_;
  std::atomic<bool> stopped_{false};
  std::mutex mutex_;
  std::condition_variable drained_;
  size_t active_ = 0;
  std::set<int> openSockets_;
  asio::ssl::context tls_;
  bool useTls_ = false;
};

}  // namespace

Result<std::unique_ptr<Server>> listen(const ServerOptions& options, Handler handler) {
  auto server = std::make_unique<ServerImpl>(options, std::move(handler));
  if (Status s = server->start(); !s) return s.error();
  return std::unique_ptr<Server>(std::move(server));
}

}  // namespace skiff::http
