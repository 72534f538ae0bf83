#include "http/websocket.h"

#include <openssl/sha.h>
#include <poll.h>

#include <cstring>
#include <random>

#include "common/base64.h"

namespace skiff::http {

Result<std::optional<WebSocketFrame>> parseWebSocketFrame(std::string_view b, size_t& used, size_t maxPayload) {
  used = 0;
  if (b.size() < 2) return std::optional<WebSocketFrame>();
  WebSocketFrame f;
  auto byte = [&](size_t i) { return static_cast<unsigned char>(b[i]); };
  f.fin = byte(0) & 0x80;
  if (byte(0) & 0x70) return Error::badRequest("websocket frame uses reserved bits");
  f.opcode = byte(0) & 0x0f;
  bool masked = byte(1) & 0x80;
  uint64_t len = byte(1) & 0x7f;
  size_t pos = 2;
  if (len == 126) {
    if (b.size() < 4) return std::optional<WebSocketFrame>();
    len = (uint64_t(byte(2)) << 8) | byte(3);
    pos = 4;
  } else if (len == 127) {
    if (b.size() < 10) return std::optional<WebSocketFrame>();
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | byte(2 + size_t(i));
    pos = 10;
  }
  if (len > maxPayload) return Error::badRequest("websocket frame of " + std::to_string(len) + " bytes is over the limit");
  if (f.opcode >= 8 && (len > 125 || !f.fin)) return Error::badRequest("malformed websocket control frame");
  unsigned char key[4] = {0, 0, 0, 0};
  if (masked) {
    if (b.size() < pos + 4) return std::optional<WebSocketFrame>();
    std::memcpy(key, b.data() + pos, 4);
    pos += 4;
  }
  if (b.size() - pos < len) return std::optional<WebSocketFrame>();
  f.payload.assign(b.data() + pos, size_t(len));
  if (masked)
    for (size_t i = 0; i < f.payload.size(); ++i) f.payload[i] = char(f.payload[i] ^ key[i % 4]);
  used = pos + size_t(len);
  return std::optional<WebSocketFrame>(std::move(f));
}

std::string encodeWebSocketFrame(uint8_t opcode, std::string_view payload, bool mask) {
  std::string out;
  out += char(0x80 | opcode);
  uint8_t m = mask ? 0x80 : 0;
  if (payload.size() < 126) {
    out += char(m | payload.size());
  } else if (payload.size() <= 0xffff) {
    out += char(m | 126);
    out += char(payload.size() >> 8);
    out += char(payload.size() & 0xff);
  } else {
    out += char(m | 127);
    for (int i = 7; i >= 0; --i) out += char((uint64_t(payload.size()) >> (8 * i)) & 0xff);
  }
  if (!mask) return out + std::string(payload);
  static thread_local std::mt19937 rng{std::random_device{}()};
  unsigned char key[4];
  for (auto& k : key) k = static_cast<unsigned char>(rng());
  out.append(reinterpret_cast<char*>(key), 4);
  for (size_t i = 0; i < payload.size(); ++i) out += char(payload[i] ^ key[i % 4]);
  return out;
}

std::string webSocketAccept(std::string_view key) {
  std::string s = std::string(key) + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(s.data()), s.size(), digest);
  return base64Encode(std::string_view(reinterpret_cast<char*>(digest), sizeof digest));
}

Result<std::string> WebSocket::receiveBlocking() {
  while (true) {
    if (!pending()) {
      pollfd p{fd(), POLLIN, 0};
      if (::poll(&p, 1, -1) < 0 && errno != EINTR) return Error::unavailable("websocket poll failed");
    }
    auto m = receive();
    if (!m) return m.error();
    if (*m) return std::move(**m);
  }
}

}  // namespace skiff::http
