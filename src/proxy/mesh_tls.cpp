#include "proxy/mesh_tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace skiff::proxy {
namespace {

// A context for one identity: TLS 1.3 only, the platform CA as the only trust anchor, the peer
// must present a certificate. Partial and moving writes because the data plane writes from
// buffers that grow; buffers released while idle (10,000 pooled connections must stay cheap).
Result<SSL_CTX*> contextFor(const pki::Identity& id, bool server) {
  SSL_CTX* ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (!ctx) return Error::internal("cannot make a TLS context: " + tlsError());
  auto fail = [&](const std::string& what) -> Result<SSL_CTX*> {
    std::string e = tlsError();
    SSL_CTX_free(ctx);
    return Error::internal(what + " for " + id.spiffeId + ": " + e);
  };
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_read_ahead(ctx, 1);
  SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
  // No session tickets: they would arrive on pooled idle connections as unasked bytes, and every
  // connection authenticates with a certificate anyway.
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  BIO* certBio = BIO_new_mem_buf(id.certPem.data(), int(id.certPem.size()));
  X509* cert = PEM_read_bio_X509(certBio, nullptr, nullptr, nullptr);
  BIO_free(certBio);
  BIO* keyBio = BIO_new_mem_buf(id.keyPem.data(), int(id.keyPem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(keyBio, nullptr, nullptr, nullptr);
  BIO_free(keyBio);
  bool ok = cert && key && SSL_CTX_use_certificate(ctx, cert) == 1 && SSL_CTX_use_PrivateKey(ctx, key) == 1 && SSL_CTX_check_private_key(ctx) == 1;
  X509_free(cert);
  EVP_PKEY_free(key);
  if (!ok) return fail("cannot load the certificate and key");
  BIO* caBio = BIO_new_mem_buf(id.caCertPem.data(), int(id.caCertPem.size()));
  X509* ca = PEM_read_bio_X509(caBio, nullptr, nullptr, nullptr);
  BIO_free(caBio);
  ok = ca && X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca) == 1;
  X509_free(ca);
  if (!ok) return fail("cannot load the CA certificate");
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  return ctx;
}

}  // namespace

std::string tlsError() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "unknown TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

Result<std::shared_ptr<const MeshTls>> MeshTls::create(const pki::Identity& node, const std::vector<pki::Identity>& workloads,
                                                       uint64_t generation) {
  std::shared_ptr<MeshTls> tls(new MeshTls());
  tls->nodeId_ = node.spiffeId;
  tls->generation_ = generation;
  auto server = contextFor(node, true);
  if (!server) return server.error();
  tls->server_ = *server;
  auto nodeClient = contextFor(node, false);
  if (!nodeClient) return nodeClient.error();
  tls->nodeClient_ = *nodeClient;
  for (const auto& w : workloads) {
    auto ctx = contextFor(w, false);
    if (!ctx) return ctx.error();
    if (auto [it, inserted] = tls->clients_.emplace(w.spiffeId, *ctx); !inserted) SSL_CTX_free(*ctx);
  }
  return std::shared_ptr<const MeshTls>(std::move(tls));
}

MeshTls::~MeshTls() {
  // Connections still open keep their context alive (SSL objects hold a reference).
  SSL_CTX_free(server_);
  SSL_CTX_free(nodeClient_);
  for (auto& [id, ctx] : clients_) SSL_CTX_free(ctx);
}

SSL_CTX* MeshTls::client(std::string_view spiffeId) const {
  auto it = clients_.find(spiffeId);
  return it != clients_.end() ? it->second : nodeClient_;
}

std::string peerSpiffeId(SSL* ssl) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (!cert) return "";
  std::string id;
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
    if (n->type != GEN_URI) continue;
    std::string uri(reinterpret_cast<const char*>(ASN1_STRING_get0_data(n->d.uniformResourceIdentifier)),
                    size_t(ASN1_STRING_length(n->d.uniformResourceIdentifier)));
    if (uri.starts_with("spiffe://")) {
      id = uri;
      break;
    }
  }
  GENERAL_NAMES_free(names);
  return id;
}

}  // namespace skiff::proxy
