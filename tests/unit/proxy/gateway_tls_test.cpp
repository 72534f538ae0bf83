// TLS termination on Gateway HTTPS listeners: certificates by SNI name, certificate Secrets,
// ReferenceGrants, and a real TLS client through the proxy to a plain HTTP backend.
#include "proxy/gateway_tls.h"

#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <boost/json.hpp>

#include "common/base64.h"
#include "observe/metrics.h"
#include "proxy/dataplane.h"
#include "pki/pki.h"
#include "proxy_test_support.h"

namespace skiff::proxy {
namespace {

using namespace proxytest;
namespace json = boost::json;

// A certificate and key to serve (the platform CA's, whose names do not matter here: the tests
// tell certificates apart by serial number).
ServedCertificate servedFor(const std::string& hostname, const std::string& who) {
  static auto ca = pki::CertificateAuthority::ephemeral();
  auto id = ca->issue("spiffe://cluster.local/ns/test/sa/" + who, std::chrono::hours(1));
  return {hostname, id->certPem, id->keyPem};
}

// The serial number of the certificate a context serves, or of a PEM certificate.
std::string serialOf(X509* cert) {
  if (!cert) return "";
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get_serialNumber(cert), nullptr);
  char* hex = BN_bn2hex(bn);
  std::string s = hex;
  OPENSSL_free(hex);
  BN_free(bn);
  return s;
}
std::string serialOf(SSL_CTX* ctx) { return ctx ? serialOf(SSL_CTX_get0_certificate(ctx)) : "none"; }
std::string serialOf(const ServedCertificate& c) {
  BIO* bio = BIO_new_mem_buf(c.certPem.data(), int(c.certPem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  std::string s = serialOf(cert);
  X509_free(cert);
  return s;
}

TEST(GatewayTls, PicksTheCertificateByServerName) {
  ServedCertificate exact = servedFor("shop.example.com", "exact"), wildcard = servedFor("*.example.com", "wildcard"),
                    deeper = servedFor("*.eu.example.com", "deeper"), any = servedFor("", "any");
  auto tls = TlsTerminator::create({exact, wildcard, deeper, any});
  ASSERT_TRUE(tls) << tls.error().message;
  EXPECT_EQ(serialOf((*tls)->contextFor("shop.example.com")), serialOf(exact));
  EXPECT_EQ(serialOf((*tls)->contextFor("api.example.com")), serialOf(wildcard));
  EXPECT_EQ(serialOf((*tls)->contextFor("a.b.example.com")), serialOf(wildcard));  // wildcards match any depth
  EXPECT_EQ(serialOf((*tls)->contextFor("shop.eu.example.com")), serialOf(deeper));  // the most specific wildcard
  EXPECT_EQ(serialOf((*tls)->contextFor("example.com")), serialOf(any));  // *.example.com is not example.com
  EXPECT_EQ(serialOf((*tls)->contextFor("other.org")), serialOf(any));
  EXPECT_EQ(serialOf((*tls)->contextFor("")), serialOf(any));
  // Without an any-name listener, a name nobody serves is refused; no name gets the first.
  auto named = TlsTerminator::create({exact, wildcard});
  ASSERT_TRUE(named);
  EXPECT_EQ((*named)->contextFor("other.org"), nullptr);
  EXPECT_EQ(serialOf((*named)->contextFor("")), serialOf(exact));
  // A key that is not the certificate's is refused with the reason.
  ServedCertificate mixed = exact;
  mixed.keyPem = any.keyPem;
  auto bad = TlsTerminator::create({mixed});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("shop.example.com"), std::string::npos) << bad.error().message;
}

json::value tlsSecret(const std::string& type, const std::string& cert, const std::string& key) {
  json::object data{{"tls.crt", base64Encode(cert)}, {"tls.key", base64Encode(key)}};
  return json::object{{"metadata", json::object{{"namespace", "shop"}, {"name", "cert"}}}, {"type", type}, {"data", data}};
}

TEST(GatewayTls, CertificateSecretsAreCheckedWithReasons) {
  ServedCertificate a = servedFor("", "a"), b = servedFor("", "b");
  auto ok = certificateFromSecret(tlsSecret("kubernetes.io/tls", a.certPem, a.keyPem));
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->certPem, a.certPem);
  auto message = [](const json::value& secret) {
    auto r = certificateFromSecret(secret);
    return r ? std::string("accepted") : r.error().message;
  };
  EXPECT_EQ(message(tlsSecret("Opaque", a.certPem, a.keyPem)), "Secret shop/cert is of type Opaque; a certificate Secret is of type kubernetes.io/tls");
  EXPECT_EQ(message(tlsSecret("kubernetes.io/tls", a.certPem, b.keyPem)),
            "Secret shop/cert: tls.key is not the private key of the certificate in tls.crt");
  EXPECT_EQ(message(tlsSecret("kubernetes.io/tls", "not a certificate", a.keyPem)), "Secret shop/cert: tls.crt does not hold a PEM certificate");
  json::value noKey = tlsSecret("kubernetes.io/tls", a.certPem, a.keyPem);
  noKey.at("data").as_object().erase("tls.key");
  EXPECT_EQ(message(noKey), "Secret shop/cert has no tls.key");
  json::value notBase64 = tlsSecret("kubernetes.io/tls", a.certPem, a.keyPem);
  notBase64.at("data").as_object()["tls.crt"] = "***";
  EXPECT_EQ(message(notBase64), "Secret shop/cert: tls.crt is not base64");
}

TEST(GatewayTls, ReferenceGrantsOpenOtherNamespacesOnlyAsFarAsTheySay) {
  std::vector<std::shared_ptr<const json::value>> grants{std::make_shared<const json::value>(json::parse(R"({
      "metadata":{"namespace":"certs","name":"gateways-may-read"},
      "spec":{"from":[{"group":"gateway.networking.k8s.io","kind":"Gateway","namespace":"shop"}],
              "to":[{"group":"","kind":"Secret","name":"wildcard"}]}})"))};
  const char* gw = "gateway.networking.k8s.io";
  EXPECT_TRUE(referenceAllowed({}, gw, "Gateway", "shop", "", "Secret", "shop", "anything"));  // same namespace
  EXPECT_TRUE(referenceAllowed(grants, gw, "Gateway", "shop", "", "Secret", "certs", "wildcard"));
  EXPECT_FALSE(referenceAllowed(grants, gw, "Gateway", "shop", "", "Secret", "certs", "other"));    // not that name
  EXPECT_FALSE(referenceAllowed(grants, gw, "Gateway", "blog", "", "Secret", "certs", "wildcard"));  // not from there
  EXPECT_FALSE(referenceAllowed(grants, gw, "HTTPRoute", "shop", "", "Secret", "certs", "wildcard"));
  EXPECT_FALSE(referenceAllowed(grants, gw, "Gateway", "shop", "", "Service", "certs", "wildcard"));
  EXPECT_FALSE(referenceAllowed({}, gw, "Gateway", "shop", "", "Secret", "certs", "wildcard"));
}

// One HTTP/1.1 request over TLS with `sni` and ALPN `alpn` (wire format); what came back.
struct TlsAnswer {
  bool handshake = false;
  std::string serial, alpn, response;
};
TlsAnswer tlsGet(int port, const std::string& sni, const std::string& alpn, const std::string& path) {
  TlsAnswer a;
  int fd = connectTo(port);
  if (fd < 0) return a;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  if (!sni.empty()) SSL_set_tlsext_host_name(ssl, sni.c_str());
  if (!alpn.empty()) SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(alpn.data()), unsigned(alpn.size()));
  if (SSL_connect(ssl) == 1) {
    a.handshake = true;
    X509* peer = SSL_get1_peer_certificate(ssl);
    a.serial = serialOf(peer);
    X509_free(peer);
    const unsigned char* p = nullptr;
    unsigned int n = 0;
    SSL_get0_alpn_selected(ssl, &p, &n);
    a.alpn.assign(reinterpret_cast<const char*>(p), n);
    std::string req = "GET " + path + " HTTP/1.1\r\nHost: " + sni + "\r\nX-Forwarded-Proto: http\r\nConnection: close\r\n\r\n";
    SSL_write(ssl, req.data(), int(req.size()));
    char buf[4096];
    int k;
    while ((k = SSL_read(ssl, buf, sizeof buf)) > 0) a.response.append(buf, size_t(k));
  }
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  close(fd);
  return a;
}

TEST(GatewayTls, HttpsListenerTerminatesTlsAndForwardsPlainHttp) {
  Backend be([](const Message& m) { return Backend::Reply{200, "proto=" + m.header("x-forwarded-proto")}; });
  Fixture f({cluster("web", {be.port()})}, {routeTo({{0, 1}})});
  ServedCertificate shop = servedFor("shop.example.com", "shop"), any = servedFor("", "any");
  auto tls = TlsTerminator::create({shop, any});
  ASSERT_TRUE(tls);
  auto table = std::make_shared<RouteTable>(*f.table);
  table->version = 2;
  table->listeners[0].name = "gateway shop/edge/https";
  table->listeners[0].tls = *tls;
  f.proxy.update(table);
  TlsAnswer a;
  for (int i = 0; i < 100 && !a.handshake; ++i) {  // the worker takes the new table asynchronously
    a = tlsGet(f.port, "shop.example.com", std::string("\x08http/1.1", 9), "/");
    if (!a.handshake) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(a.handshake);
  EXPECT_EQ(a.serial, serialOf(shop));
  EXPECT_EQ(a.alpn, "http/1.1");
  EXPECT_TRUE(a.response.starts_with("HTTP/1.1 200")) << a.response;
  EXPECT_TRUE(a.response.ends_with("proto=https")) << a.response;  // the client's own header is replaced
  EXPECT_EQ(tlsGet(f.port, "other.org", "", "/").serial, serialOf(any));
  // Plain HTTP on the HTTPS port: the handshake fails, counted; the port keeps serving TLS.
  auto& failed = dataplane::tlsHandshakes("gateway shop/edge/https", "failed");
  double before = failed.value();
  Message plain = f.get("/");
  EXPECT_EQ(plain.status, 0);
  EXPECT_EQ(failed.value(), before + 1);
  EXPECT_TRUE(tlsGet(f.port, "shop.example.com", "", "/").response.ends_with("proto=https"));
  // A client that offers h2 (as browsers do) gets it: its streams reach this HTTP/1.1 backend
  // through http2_to_http1.h (tests/e2e/gateway_tls_test.sh sends requests that way with curl).
  EXPECT_EQ(tlsGet(f.port, "shop.example.com", std::string("\x02h2\x08http/1.1", 12), "").alpn, "h2");
}

TEST(GatewayTls, TlsListenerThatTerminatesTunnelsThePlainBytesToItsRoute) {
  // A TCP backend that answers what it was sent, in clear.
  int bePort;
  int beFd = listenOn(bePort);
  std::thread backend([beFd] {
    for (int i = 0; i < 2; ++i) {
      int c = accept(beFd, nullptr, nullptr);
      char tmp[4096];
      ssize_t n = recv(c, tmp, sizeof tmp, 0);
      if (n > 0) sendAll(c, "got:" + std::string(tmp, size_t(n)));
      close(c);
    }
  });
  ProxyOptions one;
  one.workers = 1;
  HttpProxy proxy(one);
  ASSERT_TRUE(proxy.start());
  ServedCertificate db = servedFor("db.example.com", "db");
  auto tls = TlsTerminator::create({db}, /*http=*/false);
  ASSERT_TRUE(tls);
  auto t = std::make_shared<RouteTable>();
  t->clusters.push_back(cluster("db", {bePort}));
  Listener l;
  l.ip = "127.0.0.1";
  l.port = freePort();
  l.key = "127.0.0.1:" + std::to_string(l.port);
  l.protocol = Listener::Protocol::kTls;
  l.name = "gateway shop/edge/db";
  l.tls = *tls;
  VirtualHost vh;
  vh.hostnames = {"db.example.com"};
  vh.routes = {routeTo({{0, 1}})};
  l.hosts = {vh};
  t->listeners.push_back(l);
  proxy.update(t);
  int probe = connectWhenListening(l.port);
  ASSERT_GE(probe, 0);
  close(probe);
  TlsAnswer a = tlsGet(l.port, "DB.example.com", std::string("\x02h2\x08http/1.1", 12), "/query");
  ASSERT_TRUE(a.handshake);
  EXPECT_EQ(a.serial, serialOf(db));
  EXPECT_EQ(a.alpn, "");  // not HTTP: no protocol negotiated
  EXPECT_TRUE(a.response.starts_with("got:GET /query HTTP/1.1\r\nHost: DB.example.com")) << a.response;
  // A name the certificate does not serve fails the handshake; the next client is served.
  EXPECT_FALSE(tlsGet(l.port, "other.example.com", "", "/").handshake);
  EXPECT_TRUE(tlsGet(l.port, "db.example.com", "", "/x").response.starts_with("got:GET /x "));
  backend.join();
  close(beFd);
}

}  // namespace
}  // namespace skiff::proxy
