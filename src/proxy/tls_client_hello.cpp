#include "proxy/tls_client_hello.h"

#include <cctype>
#include <cstdint>
#include <utility>

namespace skiff::proxy {
namespace {

constexpr size_t kMaxHello = 64 * 1024;
constexpr uint8_t kHandshakeRecord = 22;
constexpr uint8_t kClientHelloMessage = 1;
constexpr uint16_t kServerNameExtension = 0;
constexpr uint8_t kHostName = 0;

// Reads big-endian fields off the front of a byte range; any overrun marks it bad.
struct Reader {
  std::string_view s;
  bool bad = false;
  uint32_t number(size_t bytes) {
    if (s.size() < bytes) {
      bad = true;
      return 0;
    }
    uint32_t v = 0;
    for (size_t i = 0; i < bytes; ++i) v = (v << 8) | uint8_t(s[i]);
    s.remove_prefix(bytes);
    return v;
  }
  std::string_view take(size_t n) {
    if (s.size() < n) {
      bad = true;
      return {};
    }
    std::string_view out = s.substr(0, n);
    s.remove_prefix(n);
    return out;
  }
  // A vector with a `lengthBytes`-byte length prefix.
  std::string_view vec(size_t lengthBytes) { return take(number(lengthBytes)); }
};

// The host_name of a server_name extension's body; false when malformed.
bool hostName(std::string_view body, std::string& out) {
  Reader list{body};
  Reader names{list.vec(2)};
  if (list.bad || !list.s.empty()) return false;
  while (!names.s.empty()) {
    uint8_t type = uint8_t(names.number(1));
    std::string_view name = names.vec(2);
    if (names.bad) return false;
    if (type != kHostName) continue;
    if (name.empty() || name.size() > 255) return false;
    out.clear();
    for (char c : name) {
      if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e) return false;  // RFC 6066: ASCII host name
      out += char(std::tolower(static_cast<unsigned char>(c)));
    }
    if (out.back() == '.') out.pop_back();
    return !out.empty();
  }
  return true;
}

}  // namespace

ClientHello parseClientHello(std::string_view bytes, std::string& serverName) {
  serverName.clear();
  // Gather the handshake bytes of the records that carry the ClientHello (it may be fragmented).
  std::string handshake;
  Reader records{bytes};
  size_t messageLength = 0;
  bool haveLength = false;
  while (!haveLength || handshake.size() < messageLength + 4) {
    if (records.s.size() < 5) {
      if (records.s.empty() || (uint8_t(records.s[0]) == kHandshakeRecord && (records.s.size() < 2 || records.s[1] == 3)))
        return bytes.size() > kMaxHello ? ClientHello::kNotTls : ClientHello::kIncomplete;
      return ClientHello::kNotTls;
    }
    uint8_t type = uint8_t(records.s[0]), major = uint8_t(records.s[1]);
    size_t length = (size_t(uint8_t(records.s[3])) << 8) | uint8_t(records.s[4]);
    if (type != kHandshakeRecord || major != 3 || length == 0 || length > 16384 + 2048) return ClientHello::kNotTls;
    if (records.s.size() < 5 + length) return bytes.size() > kMaxHello ? ClientHello::kNotTls : ClientHello::kIncomplete;
    records.take(5);
    handshake.append(records.take(length));
    if (!haveLength && handshake.size() >= 4) {
      if (uint8_t(handshake[0]) != kClientHelloMessage) return ClientHello::kNotTls;
      messageLength = (size_t(uint8_t(handshake[1])) << 16) | (size_t(uint8_t(handshake[2])) << 8) | uint8_t(handshake[3]);
      if (messageLength > kMaxHello) return ClientHello::kNotTls;
      haveLength = true;
    }
  }
  Reader hello{std::string_view(handshake).substr(4, messageLength)};
  hello.take(2 + 32);  // legacy_version, random
  hello.vec(1);        // legacy_session_id
  hello.vec(2);        // cipher_suites
  hello.vec(1);        // legacy_compression_methods
  if (hello.bad) return ClientHello::kNotTls;
  if (hello.s.empty()) return ClientHello::kComplete;  // no extensions at all (SSLv3-era clients)
  Reader extensions{hello.vec(2)};
  if (hello.bad) return ClientHello::kNotTls;
  while (!extensions.s.empty()) {
    uint16_t type = uint16_t(extensions.number(2));
    std::string_view body = extensions.vec(2);
    if (extensions.bad) return ClientHello::kNotTls;
    if (type == kServerNameExtension) {
      std::string name;
      if (!hostName(body, name)) return ClientHello::kNotTls;
      serverName = std::move(name);
      return ClientHello::kComplete;
    }
  }
  return ClientHello::kComplete;
}

}  // namespace skiff::proxy
