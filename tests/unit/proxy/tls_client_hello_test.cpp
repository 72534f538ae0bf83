#include "proxy/tls_client_hello.h"

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <string>

namespace skiff::proxy {
namespace {

// The bytes OpenSSL's client really sends first, asking for `sni` ("" = no SNI).
std::string realClientHello(const char* sni) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = SSL_new(ctx);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, in, out);
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
  std::string hello = realClientHello("Shop.Example.");
  std::string name;
  ASSERT_EQ(parseClientHello(hello, name), ClientHello::kComplete);
  EXPECT_EQ(name, "shop.example");  // lower case, without the root dot
  ASSERT_EQ(parseClientHello(realClientHello(""), name), ClientHello::kComplete);
  EXPECT_EQ(name, "");
}

TEST(TlsClientHello, WaitsForEveryByteOfAFragmentedHello) {
  std::string hello = fragmented(realClientHello("api.shop.example"), 50);
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
  std::string hello = realClientHello("a.example");
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
