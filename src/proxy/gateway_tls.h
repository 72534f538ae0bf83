// TLS termination on Gateway listeners (protocol HTTPS, or TLS with tls.mode Terminate): the certificates
// of kubernetes.io/tls Secrets, chosen per connection by the name the client asks for (SNI)
// among the Gateway listeners that share a port, then HTTP/2 when the client offers it in ALPN
// (as browsers do), else HTTP/1.1, as on a plain listener; on a TLS listener the bytes inside go to
// the backend of its TLSRoute or TCPRoute as a TCP stream.
//
// Also the checks Gateway API asks of references: a certificate Secret or a backend Service in
// another namespace needs a ReferenceGrant there.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "common/result.h"

typedef struct ssl_ctx_st SSL_CTX;

namespace skiff::proxy {

// One certificate a listener serves to clients asking for `hostname` ("" = any name,
// "*.example.com" = any name below example.com, as Gateway listener hostnames match).
struct ServedCertificate {
  std::string hostname;
  std::string certPem, keyPem;  // the chain (leaf first) and its private key
};

class TlsTerminator {
 public:
  // `http`: the connection carries HTTP (an HTTPS listener), so ALPN may pick h2 or http/1.1;
  // otherwise (a TLS listener that terminates, TCP inside) no protocol is negotiated.
  static Result<std::shared_ptr<const TlsTerminator>> create(const std::vector<ServedCertificate>& certificates, bool http = true);
  ~TlsTerminator();
  TlsTerminator(const TlsTerminator&) = delete;
  TlsTerminator& operator=(const TlsTerminator&) = delete;

  // The context new connections start with; it switches to the certificate for the client's SNI
  // name (a name no listener serves fails the handshake with unrecognized_name).
  SSL_CTX* context() const { return contexts_.front().second; }
  // The certificate context for `serverName` (exact names before wildcards, wildcards before
  // the any-name listener); null when none serves it. "" (no SNI): the any-name one, else the first.
  SSL_CTX* contextFor(std::string_view serverName) const;

 private:
  TlsTerminator() = default;
  std::vector<std::pair<std::string, SSL_CTX*>> contexts_;  // by hostname, in the order given
};

// Checks that `certPem` holds a certificate and `keyPem` its private key; the reason otherwise.
Status checkKeyPair(const std::string& certPem, const std::string& keyPem);

// The certificate and key of a kubernetes.io/tls Secret object, or why it cannot serve.
Result<ServedCertificate> certificateFromSecret(const boost::json::value& secret);

// The certificates a Gateway listener's tls.certificateRefs name: kubernetes.io/tls Secrets in the
// Gateway's namespace, or in another that grants it with a ReferenceGrant. What was wrong with the
// others goes to `reason` and `message` (the listener's ResolvedRefs condition).
std::vector<ServedCertificate> listenerCertificates(const boost::json::value& listener, const std::string& gatewayNs,
                                                    const std::vector<std::shared_ptr<const boost::json::value>>& secrets,
                                                    const std::vector<std::shared_ptr<const boost::json::value>>& grants, std::string& reason,
                                                    std::string& message);

// Gateway API ReferenceGrant: may an object of (fromGroup, fromKind) in `fromNs` refer to
// (toGroup, toKind) `toName` in `toNs`? Always within one namespace; across namespaces only when a
// ReferenceGrant in `toNs` allows it.
bool referenceAllowed(const std::vector<std::shared_ptr<const boost::json::value>>& grants, std::string_view fromGroup, std::string_view fromKind,
                      std::string_view fromNs, std::string_view toGroup, std::string_view toKind, std::string_view toNs, std::string_view toName);

}  // namespace skiff::proxy
