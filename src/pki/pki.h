// The platform's certificate authority, the API server's serving certificate and the mesh's
// workload identities.
//
// On first start skiff makes an EC P-256 CA (10 years) and a serving certificate signed by it
// (1 year, SANs for loopback and the listen host) under DIR/tls/. Later starts reuse them and
// re-issue the serving certificate when it nears expiry or lacks the listen host. The same CA
// signs short-lived identities for workloads and nodes (SPIFFE X.509 SVIDs: the only name is a
// URI SAN `spiffe://<trust domain>/ns/<namespace>/sa/<service account>`), which node proxies
// present to each other in mTLS; they are kept in memory only and renewed before they expire.
#pragma once
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"

namespace skiff::pki {

struct ServingBundle {
  std::string caCertPem;
  std::string certPem;  // serving certificate
  std::string keyPem;   // its private key
};

Result<ServingBundle> ensureServingCertificate(const std::string& dir, const std::vector<std::string>& hosts);

// An X.509 SVID with its key, and the CA that checks it.
struct Identity {
  std::string spiffeId;  // "spiffe://cluster.local/ns/shop/sa/default"
  std::string certPem, keyPem, caCertPem;
  std::string serial;  // hex, to tell renewals apart
  std::chrono::system_clock::time_point notBefore, notAfter;
};

inline std::string workloadSpiffeId(const std::string& trustDomain, const std::string& ns, const std::string& serviceAccount) {
  return "spiffe://" + trustDomain + "/ns/" + ns + "/sa/" + serviceAccount;
}

// A certificate with its key, for TLS between cluster components (node servers, the API
// server's client identity towards them).
struct Certificate {
  std::string certPem, keyPem, caCertPem;
};

// What a component certificate names: the subject's common name (and organisation, as
// Kubernetes reads groups from O), and for serving certificates the DNS names and IPs it answers for.
struct CertificateRequest {
  std::string commonName;
  std::string organization;
  std::vector<std::string> hosts;  // DNS names and IP addresses; empty for client certificates
  bool serverAuth = false, clientAuth = false;
  std::chrono::seconds lifetime{24 * 3600};
  std::vector<std::string> uris{};  // URI names (a SPIFFE id), in requests only
  std::vector<std::string> moreOrganizations{};  // further O entries (a user's other groups), in requests only
};

// Certificate signing requests (PKCS#10, PEM), as Kubernetes' CSR API carries them: a component
// makes its key and a request, and only the request travels.
struct KeyAndRequest {
  std::string keyPem, requestPem;
};
// A fresh P-256 key and a request for `request`'s common name, organization and hosts (usages and
// lifetime are for the signer to decide).
Result<KeyAndRequest> makeCertificateRequest(const CertificateRequest& request);

struct RequestedNames {
  std::string commonName;
  std::vector<std::string> organizations, dnsNames, ipAddresses, uris;
};
// What a PEM request asks for, once its signature proves the requester holds the key.
Result<RequestedNames> parseCertificateRequest(const std::string& pem);

// When a PEM certificate starts and stops being valid; an error when it is not a certificate.
struct Validity {
  std::chrono::system_clock::time_point notBefore, notAfter;
};
Result<Validity> certificateValidity(const std::string& pem);
// A workload identity from a certificate issued elsewhere (a CSR the API signed): its serial
// and validity read from the certificate.
Result<Identity> identityFromCertificate(const std::string& spiffeId, const std::string& certPem, const std::string& keyPem,
                                         const std::string& caCertPem);
Result<std::chrono::system_clock::time_point> certificateNotAfter(const std::string& pem);

class CertificateAuthority {
 public:
  // The CA in DIR (ca.key, ca.crt), made when missing.
  static Result<CertificateAuthority> open(const std::string& dir);
  // A CA that lives in memory only (tests, benchmarks).
  static Result<CertificateAuthority> ephemeral();
  // A fresh key and a certificate for `spiffeId` valid for `lifetime` (backdated a minute for clock
  // skew), usable as TLS client and server. Refuses ids that are not spiffe://<domain>/<path>.
  Result<Identity> issue(const std::string& spiffeId, std::chrono::seconds lifetime) const;
  // A fresh key and a certificate for a cluster component (backdated a minute for clock skew).
  Result<Certificate> issueCertificate(const CertificateRequest& request) const;
  // Signs a PKCS#10 request as it stands — its subject and subject alternative names — for the
  // usages given, valid for `lifetime` (backdated a minute). Check what it asks for first
  // (parseCertificateRequest): this signs whatever the request names.
  Result<std::string> signRequest(const std::string& requestPem, bool serverAuth, bool clientAuth, std::chrono::seconds lifetime) const;
  const std::string& certPem() const;

 private:
  struct Keys;
  std::shared_ptr<const Keys> keys_;
};

}  // namespace skiff::pki
