// Internal to src/http: a WebSocket over a connected (plain or TLS) Asio socket, shared by the
// server (after an upgrade) and the client.
#pragma once
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <memory>

#include "http/websocket.h"

namespace skiff::http::detail {

// The socket's fd and its TLS session (null for plain TCP). The server's own connection type
// supplies overloads of these found by argument-dependent lookup.
inline int socketFd(boost::asio::ip::tcp::socket& s) { return s.native_handle(); }
inline int socketFd(boost::asio::ssl::stream<boost::asio::ip::tcp::socket>& s) { return s.next_layer().native_handle(); }
inline SSL* tlsSessionOf(boost::asio::ip::tcp::socket&) { return nullptr; }
inline SSL* tlsSessionOf(boost::asio::ssl::stream<boost::asio::ip::tcp::socket>& s) { return s.native_handle(); }

template <class Socket>
class SocketWebSocket final : public WebSocket {
 public:
  // `buffered`: bytes the HTTP parser already read past the upgrade request or response.
  SocketWebSocket(Socket& socket, bool client, std::string protocol, std::string buffered, std::shared_ptr<void> owner = {})
      : socket_(socket), client_(client), buffer_(std::move(buffered)), owner_(std::move(owner)) {
    protocol_ = std::move(protocol);
  }
  int fd() const override { return socketFd(socket_); }
  bool pending() const override {
    size_t used = 0;
    auto f = parseWebSocketFrame(buffer_, used);
    if (!f || *f) return true;  // a whole frame (or an error) is waiting
    // A TLS engine may have moved whatever the kernel had into the SSL read BIO at once, so a
    // second frame can wait there (or decrypted in SSL) with nothing left for poll() to see.
    if (SSL* ssl = tlsSessionOf(socket_)) return SSL_pending(ssl) > 0 || SSL_has_pending(ssl) || BIO_ctrl_pending(SSL_get_rbio(ssl)) > 0;
    return false;
  }
  Result<std::optional<std::string>> receive() override {
    if (closed_) return Error::unavailable("the websocket is closed");
    size_t used = 0;
    auto probe = parseWebSocketFrame(buffer_, used);
    if (probe && !*probe) {
      char buf[16384];
      boost::system::error_code ec;
      size_t n = socket_.read_some(boost::asio::buffer(buf), ec);
      if (ec) {
        closed_ = true;
        return Error::unavailable("the websocket connection ended: " + ec.message());
      }
      buffer_.append(buf, n);
    }
    while (true) {
      auto f = parseWebSocketFrame(buffer_, used);
      if (!f) {
        closed_ = true;
        return f.error();
      }
      if (!*f) return std::optional<std::string>();
      buffer_.erase(0, used);
      WebSocketFrame& frame = **f;
      if (frame.opcode == 8) {
        if (!closed_) send(frame.payload.substr(0, 2), 8);
        closed_ = true;
        return Error::unavailable("the peer closed the websocket");
      }
      if (frame.opcode == 9) {
        send(frame.payload, 10);
        continue;
      }
      if (frame.opcode == 10) continue;
      message_ += frame.payload;
      if (!frame.fin) continue;
      std::string out = std::move(message_);
      message_.clear();
      return std::optional<std::string>(std::move(out));
    }
  }
  bool send(std::string_view message) override { return send(message, 2); }
  void close() override {
    if (closed_) return;
    send(std::string("\x03\xe8", 2), 8);  // 1000: normal closure
    closed_ = true;
  }

 private:
  bool send(std::string_view payload, uint8_t opcode) {
    std::string frame = encodeWebSocketFrame(opcode, payload, client_);
    boost::system::error_code ec;
    boost::asio::write(socket_, boost::asio::buffer(frame), ec);
    return !ec;
  }
  Socket& socket_;
  bool client_;
  std::string buffer_, message_;
  bool closed_ = false;
  std::shared_ptr<void> owner_;
};

}  // namespace skiff::http::detail
