#include "proxy/tls_client_hello.h"

#include <gtest/gtest.h>

#include <string>

#include "proxy_test_support.h"

namespace skiff::proxy {
namespace {
using proxytest::clientHelloBytes;

// The same handshake message re-cut into records of at most `chunk` bytes.
std::string fragmented(const std::string& oneRecord, size_t chunk) {
  std::string body = oneRecord.substr(5), out;
  for (size_t i = 0; i < body.size(); i += chunk) {
    std::string piece = body.substr(i, chunk);
    out += std::string{char(22), char(3), char(1), char(piece.size() >> 8), char(piece.size() & 0xff)} + piece;
  }
  return out;
}

TEST(TlsClientHello, ReadsTheServerNameOfARealClientHello) {
  std::string hello = clientHelloBytes("Shop.Example.");
  std::string name;
  ASSERT_EQ(parseClientHello(hello, name), ClientHello::kComplete);
  EXPECT_EQ(name, "shop.example");  // lower case, without the root dot
  ASSERT_EQ(parseClientHello(clientHelloBytes(""), name), ClientHello::kComplete);
  EXPECT_EQ(name, "");
}

TEST(TlsClientHello, WaitsForEveryByteOfAFragmentedHello) {
  std::string hello = fragmented(clientHelloBytes("api.shop.example"), 50);
  std::string name;
  for (size_t cut = 0; cut < hello.size(); ++cut) {
    ASSERT_EQ(parseClientHello(std::string_view(hello).substr(0, cut), name), ClientHello::kIncomplete) << cut;
    EXPECT_EQ(name, "");
  }
  ASSERT_EQ(parseClientHello(hello + "trailing early data", name), ClientHello::kComplete);
  EXPECT_EQ(name, "api.shop.example");
}

TEST(TlsClientHello, RefusesWhatIsNotATlsClientHello) {
  std::string name;
  EXPECT_EQ(parseClientHello("GET / HTTP/1.1\r\nHost: x\r\n\r\n", name), ClientHello::kNotTls);
  EXPECT_EQ(parseClientHello(std::string("\x16\x03\x01\x00\x00", 5), name), ClientHello::kNotTls);  // empty record
  std::string hello = clientHelloBytes("a.example");
  std::string serverHelloType = hello;
  serverHelloType[5] = 2;  // a ServerHello from a client
  EXPECT_EQ(parseClientHello(serverHelloType, name), ClientHello::kNotTls);
  std::string truncatedInside = hello;
  truncatedInside[5 + 4 + 2 + 32] = char(0xff);  // session id longer than the message
  EXPECT_EQ(parseClientHello(truncatedInside, name), ClientHello::kNotTls);
  // A handshake that never ends within 64 KiB of records is refused, not buffered forever.
  std::string endless = std::string("\x16\x03\x01\x40\x00", 5) + std::string{char(1), char(0xff), char(0xff), char(0xff)} + std::string(0x4000 - 4, 'x');
  for (int i = 0; i < 5; ++i) endless += std::string("\x16\x03\x01\x40\x00", 5) + std::string(0x4000, 'x');
  EXPECT_EQ(parseClientHello(endless, name), ClientHello::kNotTls);
}

}  // namespace
}  // namespace skiff::proxy
