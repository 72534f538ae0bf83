// WebSocket (RFC 6455) framing and the two ends skiff needs: the server side of an upgraded API
// connection (exec, as Kubernetes' v4/v5.channel.k8s.io streaming protocols use it) and a client
// for `skiff exec`. Framing is pure functions over bytes (fuzzed); connections own a socket and
// are used from one thread, which polls fd() (and pending()) together with its other fds.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace skiff::http {

struct WebSocketFrame {
  bool fin = true;
  uint8_t opcode = 2;  // 1 text, 2 binary, 8 close, 9 ping, 10 pong, 0 continuation
  std::string payload;
};

// Parses one frame from the front of `buffer`; nullopt when more bytes are needed. Sets `used`.
// Frames larger than maxPayload are an error.
Result<std::optional<WebSocketFrame>> parseWebSocketFrame(std::string_view buffer, size_t& used, size_t maxPayload = 16 << 20);
// Encodes a frame; clients must mask (RFC 6455 5.3), servers must not.
std::string encodeWebSocketFrame(uint8_t opcode, std::string_view payload, bool mask);
// Sec-WebSocket-Accept for a Sec-WebSocket-Key.
std::string webSocketAccept(std::string_view key);

class WebSocket {
 public:
  virtual ~WebSocket() = default;
  virtual int fd() const = 0;
  // Bytes already read from the socket (or held by TLS) that poll() on fd() would not announce.
  virtual bool pending() const = 0;
  // Reads what is available and returns the next whole data message if there is one; answers
  // pings. Fails once the peer closed or the connection broke.
  virtual Result<std::optional<std::string>> receive() = 0;
  // Blocks until a data message arrives (or the connection ends).
  Result<std::string> receiveBlocking();
  virtual bool send(std::string_view message) = 0;  // one binary message
  virtual void close() = 0;
  const std::string& protocol() const { return protocol_; }

 protected:
  std::string protocol_;
};

}  // namespace skiff::http
