#include "pki/pki.h"

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <arpa/inet.h>
#include <sys/stat.h>

#include <ctime>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "common/files.h"

namespace skiff::pki {
namespace fs = std::filesystem;
namespace {

template <class T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using CertPtr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

std::string opensslError() {
  unsigned long e = ERR_get_error();
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

KeyPtr newKey() { return KeyPtr(EVP_EC_gen("P-256")); }

std::string keyToPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, size_t(n));
}

std::string certToPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  char* data;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, size_t(n));
}

KeyPtr keyFromPem(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), int(pem.size())));
  return KeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

std::string serialHexOf(X509* cert) {
  std::string out;
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
  if (char* hex = bn ? BN_bn2hex(bn) : nullptr) {
    out = hex;
    OPENSSL_free(hex);
  }
  BN_free(bn);
  return out;
}

CertPtr certFromPem(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), int(pem.size())));
  return CertPtr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

bool addExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) return false;
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return true;
}

// Signs a certificate for `subjectKey`, valid from `backdate` ago for `lifetime`. Leaf
// certificates carry `extendedKeyUsage` and `subjectAltNames` (OpenSSL's "DNS:...,IP:...,URI:...").
CertPtr signCertificate(EVP_PKEY* subjectKey, const std::string& commonName, EVP_PKEY* issuerKey, X509* issuerCert, std::chrono::seconds lifetime,
              std::chrono::seconds backdate, bool isCa, const std::string& subjectAltNames, const char* extendedKeyUsage = "serverAuth",
              const std::string& organization = "skiff", X509_NAME* subject = nullptr) {
  CertPtr cert(X509_new());
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -long(backdate.count()));
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), long(lifetime.count()));
  X509_set_pubkey(cert.get(), subjectKey);
  if (subject) {
    X509_set_subject_name(cert.get(), subject);
  } else {
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(organization.c_str()), -1, -1, 0);
    if (!commonName.empty())
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(commonName.c_str()), -1, -1, 0);
  }
  X509* issuer = issuerCert ? issuerCert : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer));
  if (isCa) {
    addExtension(cert.get(), issuer, NID_basic_constraints, "critical,CA:TRUE");
    addExtension(cert.get(), issuer, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
  } else {
    addExtension(cert.get(), issuer, NID_basic_constraints, "critical,CA:FALSE");
    addExtension(cert.get(), issuer, NID_key_usage, "critical,digitalSignature,keyEncipherment");
    addExtension(cert.get(), issuer, NID_ext_key_usage, extendedKeyUsage);
    if (!subjectAltNames.empty() && !addExtension(cert.get(), issuer, NID_subject_alt_name, subjectAltNames)) return nullptr;
  }
  addExtension(cert.get(), issuer, NID_subject_key_identifier, "hash");
  if (!X509_sign(cert.get(), issuerKey, EVP_sha256())) return nullptr;
  return cert;
}

std::string readFile(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Keys and certificates alike are the owner's (the data dir is private; clients get the CA from
// the kubeconfig).
Status writeFile(const fs::path& p, const std::string& data) { return writeFileAtomic(p.string(), data, 0600); }

bool isIpAddress(const std::string& h) {
  return h.find_first_not_of("0123456789.:abcdefABCDEF") == std::string::npos && h.find_first_of(".:") != std::string::npos;
}

// OpenSSL's "DNS:a,IP:b" form.
std::string subjectAltNamesOf(const std::vector<std::string>& hosts) {
  std::string sans;
  for (const auto& h : hosts) sans += (sans.empty() ? "" : ",") + std::string(isIpAddress(h) ? "IP:" : "DNS:") + h;
  return sans;
}

bool coversHostsAndFresh(X509* cert, const std::vector<std::string>& hosts) {
  if (X509_cmp_time(X509_get0_notAfter(cert), nullptr) <= 0) return false;
  time_t soon = time(nullptr) + 30 * 86400;
  if (X509_cmp_time(X509_get0_notAfter(cert), &soon) <= 0) return false;
  for (const auto& h : hosts) {
    int ok = isIpAddress(h) ? X509_check_ip_asc(cert, h.c_str(), 0) : X509_check_host(cert, h.c_str(), h.size(), 0, nullptr);
    if (ok != 1) return false;
  }
  return true;
}

// The CA's key and certificate from DIR/ca.key and DIR/ca.crt, made (and DIR) on first use.
Result<std::pair<KeyPtr, CertPtr>> loadOrCreateCa(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Error::unavailable("cannot create " + dir.string() + ": " + ec.message());
  KeyPtr caKey;
  CertPtr caCert;
  if (fs::exists(dir / "ca.key") && fs::exists(dir / "ca.crt")) {
    caKey = keyFromPem(readFile(dir / "ca.key"));
    caCert = certFromPem(readFile(dir / "ca.crt"));
    if (!caKey || !caCert)
      return Error::unavailable("the CA in " + dir.string() + " is unreadable; move the tls/ folder away to make a new one "
                                "(clients must then use the new kubeconfig)");
  } else {
    caKey = newKey();
    if (!caKey) return Error::internal("cannot generate a CA key: " + opensslError());
    caCert = signCertificate(caKey.get(), "skiff-ca", caKey.get(), nullptr, std::chrono::hours(24 * 3650), std::chrono::hours(1), true, "");
    if (!caCert) return Error::internal("cannot sign the CA certificate: " + opensslError());
    if (Status s = writeFile(dir / "ca.key", keyToPem(caKey.get())); !s) return s.error();
    if (Status s = writeFile(dir / "ca.crt", certToPem(caCert.get())); !s) return s.error();
  }
  return std::make_pair(std::move(caKey), std::move(caCert));
}

}  // namespace

Result<ServingBundle> ensureServingCertificate(const std::string& dirPath, const std::vector<std::string>& hosts) {
  fs::path dir(dirPath);
  auto ca = loadOrCreateCa(dir);
  if (!ca) return ca.error();
  auto& [caKey, caCert] = *ca;
  ServingBundle bundle;
  bundle.caCertPem = certToPem(caCert.get());
  if (fs::exists(dir / "server.crt") && fs::exists(dir / "server.key")) {
    CertPtr cert = certFromPem(readFile(dir / "server.crt"));
    std::string keyPem = readFile(dir / "server.key");
    if (cert && keyFromPem(keyPem) && coversHostsAndFresh(cert.get(), hosts) &&
        X509_verify(cert.get(), X509_get0_pubkey(caCert.get())) == 1) {
      bundle.certPem = certToPem(cert.get());
      bundle.keyPem = keyPem;
      return bundle;
    }
  }
  std::string sans = "DNS:localhost,IP:127.0.0.1,IP:0:0:0:0:0:0:0:1";
  if (!hosts.empty()) sans += "," + subjectAltNamesOf(hosts);
  KeyPtr key = newKey();
  if (!key) return Error::internal("cannot generate a serving key: " + opensslError());
  CertPtr cert = signCertificate(key.get(), "skiff-apiserver", caKey.get(), caCert.get(), std::chrono::hours(24 * 365), std::chrono::hours(1), false, sans);
  if (!cert) return Error::internal("cannot sign the serving certificate: " + opensslError());
  bundle.certPem = certToPem(cert.get());
  bundle.keyPem = keyToPem(key.get());
  if (Status s = writeFile(dir / "server.key", bundle.keyPem); !s) return s.error();
  if (Status s = writeFile(dir / "server.crt", bundle.certPem); !s) return s.error();
  return bundle;
}

// Raw pointers: the smart-pointer types above are file-local, and this type is not.
struct CertificateAuthority::Keys {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  std::string certPem;
  Keys() = default;
  Keys(const Keys&) = delete;
  Keys& operator=(const Keys&) = delete;
  ~Keys() {
    EVP_PKEY_free(key);
    X509_free(cert);
  }
};

Result<CertificateAuthority> CertificateAuthority::open(const std::string& dirPath) {
  fs::path dir(dirPath);
  auto ca = loadOrCreateCa(dir);
  if (!ca) return ca.error();
  auto keys = std::make_shared<Keys>();
  keys->key = ca->first.release();
  keys->cert = ca->second.release();
  keys->certPem = certToPem(keys->cert);
  CertificateAuthority result;
  result.keys_ = std::move(keys);
  return result;
}

Result<CertificateAuthority> CertificateAuthority::ephemeral() {
  auto keys = std::make_shared<Keys>();
  keys->key = newKey().release();
  if (!keys->key) return Error::internal("cannot generate a CA key: " + opensslError());
  keys->cert = signCertificate(keys->key, "skiff-ca", keys->key, nullptr, std::chrono::hours(24), std::chrono::minutes(1), true, "").release();
  if (!keys->cert) return Error::internal("cannot sign the CA certificate: " + opensslError());
  keys->certPem = certToPem(keys->cert);
  CertificateAuthority result;
  result.keys_ = std::move(keys);
  return result;
}

const std::string& CertificateAuthority::certPem() const { return keys_->certPem; }

Result<Certificate> CertificateAuthority::issueCertificate(const CertificateRequest& request) const {
  if (request.commonName.empty()) return Error::invalid("a component certificate needs a common name");
  if (!request.serverAuth && !request.clientAuth) return Error::invalid("a component certificate must be for serving, clients or both");
  if (request.serverAuth && request.hosts.empty()) return Error::invalid("a serving certificate must name at least one host");
  for (const auto& h : request.hosts)
    if (h.empty() || h.find_first_of(",; \t\r\n") != std::string::npos) return Error::invalid("\"" + h + "\" is not a host name or address");
  if (request.lifetime.count() <= 0) return Error::invalid("a certificate's lifetime must be positive");
  KeyPtr key = newKey();
  if (!key) return Error::internal("cannot generate a key: " + opensslError());
  const char* usage = request.serverAuth && request.clientAuth ? "serverAuth,clientAuth" : request.serverAuth ? "serverAuth" : "clientAuth";
  CertPtr cert = signCertificate(key.get(), request.commonName, keys_->key, keys_->cert, request.lifetime, std::chrono::minutes(1), false,
                                 subjectAltNamesOf(request.hosts), usage, request.organization.empty() ? "skiff" : request.organization);
  if (!cert) return Error::internal("cannot sign the certificate for " + request.commonName + ": " + opensslError());
  return Certificate{certToPem(cert.get()), keyToPem(key.get()), keys_->certPem};
}

Result<Identity> identityFromCertificate(const std::string& spiffeId, const std::string& certPem, const std::string& keyPem,
                                         const std::string& caCertPem) {
  CertPtr cert = certFromPem(certPem);
  if (!cert) return Error::invalid("the certificate for " + spiffeId + " is not PEM");
  auto validity = certificateValidity(certPem);
  if (!validity) return validity.error();
  Identity id;
  id.spiffeId = spiffeId;
  id.certPem = certPem;
  id.keyPem = keyPem;
  id.caCertPem = caCertPem;
  id.serial = serialHexOf(cert.get());
  id.notBefore = validity->notBefore;
  id.notAfter = validity->notAfter;
  return id;
}

Result<Identity> CertificateAuthority::issue(const std::string& spiffeId, std::chrono::seconds lifetime) const {
  // spiffe://<trust domain>/<path>: lower-case domain, a path, no query, fragment or spaces.
  std::string_view rest = spiffeId;
  if (!rest.starts_with("spiffe://")) return Error::invalid("identity \"" + spiffeId + "\" is not a SPIFFE id (spiffe://<trust domain>/<path>)");
  rest.remove_prefix(9);
  size_t slash = rest.find('/');
  if (slash == 0 || slash == std::string_view::npos || slash + 1 == rest.size() ||
      rest.find_first_of("?#,; \t\r\n") != std::string_view::npos)
    return Error::invalid("identity \"" + spiffeId + "\" is not a SPIFFE id (spiffe://<trust domain>/<path>)");
  if (lifetime.count() <= 0) return Error::invalid("an identity's lifetime must be positive");
  KeyPtr key = newKey();
  if (!key) return Error::internal("cannot generate a workload key: " + opensslError());
  CertPtr cert = signCertificate(key.get(), "", keys_->key, keys_->cert, lifetime, std::chrono::minutes(1), false, "URI:" + spiffeId,
                            "serverAuth,clientAuth");
  if (!cert) return Error::internal("cannot sign the identity " + spiffeId + ": " + opensslError());
  Identity id;
  id.spiffeId = spiffeId;
  id.certPem = certToPem(cert.get());
  id.keyPem = keyToPem(key.get());
  id.caCertPem = keys_->certPem;
  id.serial = serialHexOf(cert.get());
  auto now = std::chrono::system_clock::now();
  id.notBefore = now - std::chrono::minutes(1);
  id.notAfter = now + lifetime;
  return id;
}

namespace {
using RequestPtr = std::unique_ptr<X509_REQ, Deleter<X509_REQ, X509_REQ_free>>;

RequestPtr requestFromPem(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), int(pem.size())));
  return RequestPtr(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
}

std::string nameEntry(X509_NAME_ENTRY* e) {
  unsigned char* utf8 = nullptr;
  int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
  std::string out = n > 0 ? std::string(reinterpret_cast<char*>(utf8), size_t(n)) : "";
  OPENSSL_free(utf8);
  return out;
}

std::string ipText(const ASN1_OCTET_STRING* ip) {
  char buf[64] = {0};
  int af = ip->length == 4 ? AF_INET : ip->length == 16 ? AF_INET6 : 0;
  if (!af || !inet_ntop(af, ip->data, buf, sizeof buf)) return "";
  return buf;
}
}  // namespace

Result<KeyAndRequest> makeCertificateRequest(const CertificateRequest& request) {
  for (const auto& h : request.hosts)
    if (h.empty() || h.find_first_of(",; \t\r\n") != std::string::npos) return Error::invalid("\"" + h + "\" is not a host name or address");
  std::string sans = subjectAltNamesOf(request.hosts);
  for (const auto& u : request.uris) {
    if (u.empty() || u.find_first_of(",; \t\r\n") != std::string::npos) return Error::invalid("\"" + u + "\" is not a URI");
    sans += (sans.empty() ? "URI:" : ",URI:") + u;
  }
  KeyPtr key = newKey();
  if (!key) return Error::internal("cannot generate a key: " + opensslError());
  RequestPtr req(X509_REQ_new());
  X509_REQ_set_version(req.get(), 0);
  X509_NAME* name = X509_REQ_get_subject_name(req.get());
  if (!request.organization.empty())
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(request.organization.c_str()), -1, -1, 0);
  for (const auto& o : request.moreOrganizations)
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(o.c_str()), -1, -1, 0);
  if (!request.commonName.empty())
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(request.commonName.c_str()), -1, -1, 0);
  X509_REQ_set_pubkey(req.get(), key.get());
  if (!sans.empty()) {
    STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, nullptr, nullptr, req.get(), nullptr, 0);
    X509_EXTENSION* san = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, sans.c_str());
    if (san) sk_X509_EXTENSION_push(exts, san);
    bool added = san && X509_REQ_add_extensions(req.get(), exts) == 1;
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    if (!added) return Error::internal("cannot name the hosts in the request: " + opensslError());
  }
  if (!X509_REQ_sign(req.get(), key.get(), EVP_sha256())) return Error::internal("cannot sign the request: " + opensslError());
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509_REQ(bio.get(), req.get());
  char* data;
  long n = BIO_get_mem_data(bio.get(), &data);
  return KeyAndRequest{keyToPem(key.get()), std::string(data, size_t(n))};
}

Result<RequestedNames> parseCertificateRequest(const std::string& pem) {
  RequestPtr req = requestFromPem(pem);
  if (!req) return Error::invalid("the request is not a PEM-encoded PKCS#10 certificate request (-----BEGIN CERTIFICATE REQUEST-----)");
  EVP_PKEY* key = X509_REQ_get0_pubkey(req.get());
  if (!key || X509_REQ_verify(req.get(), key) != 1) return Error::invalid("the certificate request's signature does not match its public key");
  RequestedNames out;
  X509_NAME* name = X509_REQ_get_subject_name(req.get());
  for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
    X509_NAME_ENTRY* e = X509_NAME_get_entry(name, i);
    int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
    if (nid == NID_commonName) out.commonName = nameEntry(e);
    else if (nid == NID_organizationName) out.organizations.push_back(nameEntry(e));
  }
  STACK_OF(X509_EXTENSION)* exts = X509_REQ_get_extensions(req.get());
  for (int i = 0; exts && i < sk_X509_EXTENSION_num(exts); ++i) {
    X509_EXTENSION* ext = sk_X509_EXTENSION_value(exts, i);
    if (OBJ_obj2nid(X509_EXTENSION_get_object(ext)) != NID_subject_alt_name) continue;
    auto* names = static_cast<GENERAL_NAMES*>(X509V3_EXT_d2i(ext));
    for (int j = 0; names && j < sk_GENERAL_NAME_num(names); ++j) {
      const GENERAL_NAME* g = sk_GENERAL_NAME_value(names, j);
      if (g->type == GEN_DNS) out.dnsNames.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(g->d.dNSName)), size_t(ASN1_STRING_length(g->d.dNSName)));
      else if (g->type == GEN_URI) out.uris.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(g->d.uniformResourceIdentifier)), size_t(ASN1_STRING_length(g->d.uniformResourceIdentifier)));
      else if (g->type == GEN_IPADD) out.ipAddresses.push_back(ipText(g->d.iPAddress));
    }
    GENERAL_NAMES_free(names);
  }
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  return out;
}

Result<Validity> certificateValidity(const std::string& pem) {
  CertPtr cert = certFromPem(pem);
  if (!cert) return Error::invalid("not a PEM certificate");
  struct tm from{}, to{};
  if (ASN1_TIME_to_tm(X509_get0_notBefore(cert.get()), &from) != 1 || ASN1_TIME_to_tm(X509_get0_notAfter(cert.get()), &to) != 1)
    return Error::invalid("the certificate's validity period is unreadable");
  return Validity{std::chrono::system_clock::from_time_t(timegm(&from)), std::chrono::system_clock::from_time_t(timegm(&to))};
}

Result<std::chrono::system_clock::time_point> certificateNotAfter(const std::string& pem) {
  auto v = certificateValidity(pem);
  if (!v) return v.error();
  return v->notAfter;
}

Result<std::string> CertificateAuthority::signRequest(const std::string& requestPem, bool serverAuth, bool clientAuth,
                                                      std::chrono::seconds lifetime) const {
  auto names = parseCertificateRequest(requestPem);
  if (!names) return names.error();
  if (!serverAuth && !clientAuth) return Error::invalid("a certificate must be for serving, clients or both");
  if (lifetime.count() <= 0) return Error::invalid("a certificate's lifetime must be positive");
  RequestPtr req = requestFromPem(requestPem);
  std::vector<std::string> hosts = names->dnsNames;
  hosts.insert(hosts.end(), names->ipAddresses.begin(), names->ipAddresses.end());
  std::string sans = subjectAltNamesOf(hosts);
  for (const auto& u : names->uris) {
    if (u.find_first_of(",; \t\r\n") != std::string::npos) return Error::invalid("\"" + u + "\" is not a URI");
    sans += (sans.empty() ? "URI:" : ",URI:") + u;
  }
  for (const auto& h : hosts)
    if (h.empty() || h.find_first_of(",; \t\r\n") != std::string::npos) return Error::invalid("\"" + h + "\" is not a host name or address");
  const char* usage = serverAuth && clientAuth ? "serverAuth,clientAuth" : serverAuth ? "serverAuth" : "clientAuth";
  CertPtr cert = signCertificate(X509_REQ_get0_pubkey(req.get()), "", keys_->key, keys_->cert, lifetime, std::chrono::minutes(1), false, sans,
                                 usage, "", X509_REQ_get_subject_name(req.get()));
  if (!cert) return Error::internal("cannot sign the request for " + names->commonName + ": " + opensslError());
  return certToPem(cert.get());
}

}  // namespace skiff::pki
