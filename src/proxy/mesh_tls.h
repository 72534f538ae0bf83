// mTLS between node proxies (the mesh, like Istio ambient's HBONE): TLS contexts made from the
// identities the platform CA issued (pki.h) — one per workload service account with pods on this
// node, presented as the client certificate when their traffic goes to a pod on another node, and
// the node's own, presented by the inbound port (15008) — plus the checks both ends make.
//
// A connection to a pod on another node is TLS 1.3 to that node's inbound port, both sides
// verifying the other's certificate against the platform CA, then `CONNECT <pod ip>:<port>
// HTTP/1.1`; after `200` it carries the pod's bytes. The destination authorizes the caller by the
// SPIFFE id in its certificate.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"
#include "pki/pki.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace skiff::proxy {

class MeshTls {
 public:
  // `node` is served on the inbound port and used for callers that are not local pods;
  // `workloads` are client credentials by SPIFFE id.
  static Result<std::shared_ptr<const MeshTls>> create(const pki::Identity& node, const std::vector<pki::Identity>& workloads,
                                                       uint64_t generation);
  ~MeshTls();
  MeshTls(const MeshTls&) = delete;
  MeshTls& operator=(const MeshTls&) = delete;

  SSL_CTX* server() const { return server_; }
  // The client context for `spiffeId`, or the node's when this node holds no identity for it.
  SSL_CTX* client(std::string_view spiffeId) const;
  const std::string& nodeId() const { return nodeId_; }
  // Changes whenever any credential was renewed: pooled connections of an older generation are
  // not reused (they carry a certificate about to expire).
  uint64_t generation() const { return generation_; }

 private:
  MeshTls() = default;
  SSL_CTX* server_ = nullptr;
  SSL_CTX* nodeClient_ = nullptr;
  std::map<std::string, SSL_CTX*, std::less<>> clients_;
  std::string nodeId_;
  uint64_t generation_ = 0;
};

// The SPIFFE id (URI SAN) of the certificate the peer presented in a finished handshake; "" when
// it presented none or none with a spiffe:// URI.
std::string peerSpiffeId(SSL* ssl);
// The last TLS error on this thread, for logs ("certificate verify failed").
std::string tlsError();

}  // namespace skiff::proxy
