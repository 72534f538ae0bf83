#include "proxy/gateway_tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <cstring>

#include "api/object.h"
#include "common/base64.h"
#include "proxy/mesh_tls.h"

namespace skiff::proxy {
namespace {

namespace json = boost::json;

std::string lowerHostname(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Gateway listener hostname semantics: "*.example.com" matches any name below example.com.
bool listenerServesName(std::string_view pattern, std::string_view name) {
  if (pattern.starts_with("*.")) return name.size() > pattern.size() - 1 && name.ends_with(pattern.substr(1));
  return pattern == name;
}

int onTlsServerName(SSL* ssl, int* alert, void* arg) {
  const auto* tls = static_cast<const TlsTerminator*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  SSL_CTX* ctx = tls->contextFor(name ? lowerHostname(name) : "");
  if (!ctx) {
    *alert = SSL_AD_UNRECOGNIZED_NAME;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  if (ctx != SSL_get_SSL_CTX(ssl)) SSL_set_SSL_CTX(ssl, ctx);
  return SSL_TLSEXT_ERR_OK;
}

// ALPN: h2 when the client offers it (streams reach HTTP/1.1 services through http2_to_http1.h),
// else http/1.1; a client offering neither gets no ALPN answer (and speaks HTTP/1.1 as clients
// without ALPN do).
int onTlsAlpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen, void*) {
  const unsigned char* http11 = nullptr;
  for (unsigned int i = 0; i < inlen;) {
    unsigned int n = in[i];
    if (i + 1 + n > inlen) break;
    std::string_view proto(reinterpret_cast<const char*>(in + i + 1), n);
    if (proto == "h2") {
      *out = in + i + 1;
      *outlen = static_cast<unsigned char>(n);
      return SSL_TLSEXT_ERR_OK;
    }
    if (proto == "http/1.1" && !http11) http11 = in + i + 1;
    i += 1 + n;
  }
  if (!http11) return SSL_TLSEXT_ERR_NOACK;
  *out = http11;
  *outlen = 8;
  return SSL_TLSEXT_ERR_OK;
}

X509* readPemCertificate(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), int(pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return cert;
}

EVP_PKEY* readPemKey(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), int(pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return key;
}

}  // namespace

Status checkKeyPair(const std::string& certPem, const std::string& keyPem) {
  X509* cert = readPemCertificate(certPem);
  if (!cert) {
    ERR_clear_error();
    return Error::invalid("tls.crt does not hold a PEM certificate");
  }
  EVP_PKEY* key = readPemKey(keyPem);
  if (!key) {
    X509_free(cert);
    ERR_clear_error();
    return Error::invalid("tls.key does not hold a PEM private key");
  }
  bool match = X509_check_private_key(cert, key) == 1;
  X509_free(cert);
  EVP_PKEY_free(key);
  ERR_clear_error();
  if (!match) return Error::invalid("tls.key is not the private key of the certificate in tls.crt");
  return {};
}

Result<std::shared_ptr<const TlsTerminator>> TlsTerminator::create(const std::vector<ServedCertificate>& certificates, bool http) {
  if (certificates.empty()) return Error::invalid("no certificate to serve");
  std::shared_ptr<TlsTerminator> tls(new TlsTerminator());
  for (const auto& c : certificates) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) return Error::internal("cannot make a TLS context: " + tlsError());
    tls->contexts_.emplace_back(lowerHostname(c.hostname), ctx);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_tlsext_servername_callback(ctx, onTlsServerName);
    SSL_CTX_set_tlsext_servername_arg(ctx, tls.get());
    if (http) SSL_CTX_set_alpn_select_cb(ctx, onTlsAlpn, nullptr);
    // The chain: the leaf, then any intermediates that follow it in tls.crt.
    BIO* bio = BIO_new_mem_buf(c.certPem.data(), int(c.certPem.size()));
    X509* leaf = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    bool ok = leaf && SSL_CTX_use_certificate(ctx, leaf) == 1;
    X509_free(leaf);
    while (ok) {
      X509* extra = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
      if (!extra) break;
      if (SSL_CTX_add_extra_chain_cert(ctx, extra) != 1) {  // takes ownership on success
        X509_free(extra);
        ok = false;
      }
    }
    BIO_free(bio);
    ERR_clear_error();  // the end of the chain reads as an error
    EVP_PKEY* key = ok ? readPemKey(c.keyPem) : nullptr;
    ok = ok && key && SSL_CTX_use_PrivateKey(ctx, key) == 1 && SSL_CTX_check_private_key(ctx) == 1;
    EVP_PKEY_free(key);
    if (!ok) {
      std::string why = tlsError();
      return Error::invalid("cannot serve the certificate for " + (c.hostname.empty() ? std::string("any name") : c.hostname) + ": " + why);
    }
  }
  return std::shared_ptr<const TlsTerminator>(std::move(tls));
}

TlsTerminator::~TlsTerminator() {
  for (auto& [host, ctx] : contexts_) SSL_CTX_free(ctx);  // connections still open hold their own reference
}

SSL_CTX* TlsTerminator::contextFor(std::string_view serverName) const {
  if (serverName.empty()) {
    for (const auto& [host, ctx] : contexts_)
      if (host.empty()) return ctx;
    return contexts_.front().second;
  }
  SSL_CTX* wildcard = nullptr;
  size_t wildcardLength = 0;
  SSL_CTX* any = nullptr;
  for (const auto& [host, ctx] : contexts_) {
    if (host == serverName) return ctx;
    if (host.empty() && !any) any = ctx;
    if (host.starts_with("*.") && listenerServesName(host, serverName) && host.size() > wildcardLength) {
      wildcard = ctx;
      wildcardLength = host.size();  // the most specific wildcard
    }
  }
  return wildcard ? wildcard : any;
}

Result<ServedCertificate> certificateFromSecret(const json::value& secret) {
  const json::object* obj = secret.if_object();
  const json::object* meta = obj && obj->if_contains("metadata") ? obj->at("metadata").if_object() : nullptr;
  std::string name = meta && meta->if_contains("name") && meta->at("name").is_string() ? std::string(meta->at("name").get_string()) : "";
  std::string ns = meta && meta->if_contains("namespace") && meta->at("namespace").is_string() ? std::string(meta->at("namespace").get_string()) : "";
  std::string what = "Secret " + ns + "/" + name;
  if (const json::value* type = obj ? obj->if_contains("type") : nullptr; type && type->is_string() && type->get_string() != "kubernetes.io/tls")
    return Error::invalid(what + " is of type " + std::string(type->get_string()) + "; a certificate Secret is of type kubernetes.io/tls");
  const json::object* data = obj && obj->if_contains("data") ? obj->at("data").if_object() : nullptr;
  ServedCertificate c;
  for (auto [key, out] : {std::pair<const char*, std::string*>{"tls.crt", &c.certPem}, {"tls.key", &c.keyPem}}) {
    const json::value* v = data ? data->if_contains(key) : nullptr;
    if (!v || !v->is_string()) return Error::invalid(what + " has no " + key);
    auto decoded = base64Decode(v->get_string());
    if (!decoded) return Error::invalid(what + ": " + key + " is not base64");
    *out = std::move(*decoded);
  }
  if (auto ok = checkKeyPair(c.certPem, c.keyPem); !ok) return Error::invalid(what + ": " + ok.error().message);
  return c;
}

std::vector<ServedCertificate> listenerCertificates(const json::value& listener, const std::string& gatewayNs,
                                                    const std::vector<std::shared_ptr<const json::value>>& secrets,
                                                    const std::vector<std::shared_ptr<const json::value>>& grants, std::string& reason,
                                                    std::string& message) {
  std::vector<ServedCertificate> out;
  auto problem = [&](const char* why, const std::string& text) {
    if (!message.empty()) return;  // the first problem is the one reported
    reason = why;
    message = text;
  };
  std::string hostname = api::stringAt(listener, "hostname");
  std::string mode = api::stringAt(listener, "tls.mode");
  if (!mode.empty() && mode != "Terminate") {
    problem("UnsupportedValue", "tls.mode " + mode + " is not served on HTTPS listeners (Terminate is)");
    return out;
  }
  const json::value* refs = api::valueAt(listener, "tls.certificateRefs");
  if (!refs || !refs->is_array() || refs->get_array().empty()) {
    problem("InvalidCertificateRef", "the listener names no certificate (tls.certificateRefs)");
    return out;
  }
  for (const auto& ref : refs->get_array()) {
    std::string kind = api::stringAt(ref, "kind").empty() ? "Secret" : api::stringAt(ref, "kind");
    std::string group = api::stringAt(ref, "group"), name = api::stringAt(ref, "name");
    std::string ns = api::stringAt(ref, "namespace").empty() ? gatewayNs : api::stringAt(ref, "namespace");
    if (kind != "Secret" || !group.empty()) {
      problem("InvalidCertificateRef", "certificateRef " + name + ": only Secrets (group \"\", kind Secret) hold certificates");
      continue;
    }
    if (!referenceAllowed(grants, "gateway.networking.k8s.io", "Gateway", gatewayNs, "", "Secret", ns, name)) {
      problem("RefNotPermitted", "certificateRef " + ns + "/" + name + ": a Secret in another namespace needs a ReferenceGrant in " + ns +
                                     " from Gateways in " + gatewayNs + " to Secrets");
      continue;
    }
    const json::value* secret = nullptr;
    for (const auto& s : secrets)
      if (api::stringAt(*s, "metadata.namespace") == ns && api::stringAt(*s, "metadata.name") == name) secret = s.get();
    if (!secret) {
      problem("InvalidCertificateRef", "Secret " + ns + "/" + name + " does not exist");
      continue;
    }
    auto cert = certificateFromSecret(*secret);
    if (!cert) {
      problem("InvalidCertificateRef", cert.error().message);
      continue;
    }
    cert->hostname = hostname;
    out.push_back(std::move(*cert));
  }
  return out;
}

bool referenceAllowed(const std::vector<std::shared_ptr<const json::value>>& grants, std::string_view fromGroup, std::string_view fromKind,
                      std::string_view fromNs, std::string_view toGroup, std::string_view toKind, std::string_view toNs, std::string_view toName) {
  if (fromNs == toNs) return true;
  auto text = [](const json::value& v, const char* key) -> std::string_view {
    const json::object* o = v.if_object();
    const json::value* x = o ? o->if_contains(key) : nullptr;
    return x && x->is_string() ? std::string_view(x->get_string()) : std::string_view();
  };
  for (const auto& g : grants) {
    const json::object* obj = g->if_object();
    if (!obj) continue;
    const json::value* meta = obj->if_contains("metadata");
    const json::value* spec = obj->if_contains("spec");
    if (!meta || !spec || !spec->is_object() || text(*meta, "namespace") != toNs) continue;
    bool from = false, to = false;
    if (const json::value* list = spec->as_object().if_contains("from"); list && list->is_array())
      for (const auto& f : list->get_array())
        from = from || (text(f, "group") == fromGroup && text(f, "kind") == fromKind && text(f, "namespace") == fromNs);
    if (const json::value* list = spec->as_object().if_contains("to"); list && list->is_array())
      for (const auto& t : list->get_array())
        to = to || (text(t, "group") == toGroup && text(t, "kind") == toKind && (text(t, "name").empty() || text(t, "name") == toName));
    if (from && to) return true;
  }
  return false;
}

}  // namespace skiff::proxy
