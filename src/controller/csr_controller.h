// CsrController: approves and signs certificatesigningrequests for the signers the cluster CA
// serves, as kube-controller-manager's csrapproving and csrsigning controllers do.
//
// Signers (Kubernetes' well-known ones; anything else is left for someone else to sign):
// - kubernetes.io/kube-apiserver-client-kubelet: a node's client certificate
//   (CN system:node:<name>, O system:nodes, client auth, no alternative names). Approved
//   automatically when a bootstrapper asks (a node joining with its token) or the node itself
//   (renewal).
// - kubernetes.io/kubelet-serving: a node server's certificate (same subject, server auth,
//   DNS names and IPs). Approved automatically only when the node itself (or an admin: an agent
//   run with the admin kubeconfig) asks and every name is one of its Node's addresses — so a
//   node cannot get a certificate for another's address.
// - kubernetes.io/kube-apiserver-client: client certificates for people and tools; signed once a
//   human approves (`kubectl certificate approve`), never automatically.
// - skiff.dev/mesh-workload: the mesh's X.509 SVIDs for a node proxy on another machine (one
//   URI name spiffe://<trust domain>/ns/<ns>/sa/<sa> or .../node/<node>, client and server
//   auth), as Istio's CA issues them to its agents. Approved automatically when a node asks for
//   its own node identity or for a service account one of its pods runs as (checked against the
//   pods bound to it; a request no pod explains within meshWorkloadGrace is denied); anyone else waits for a
//   human.
// Requests are deleted an hour after they were made once finished, a day after if still pending
// (Kubernetes' csrcleaner).
// Signed certificates last spec.expirationSeconds, at most `maxLifetime` (a year, Kubernetes'
// --cluster-signing-duration). A request a signer cannot honour gets the Failed condition with
// the reason, as Kubernetes reports it.
//
// Threading: one ReconcileLoop worker; handlers only enqueue.
#pragma once
#include <chrono>
#include <memory>
#include <optional>

#include "client/informer.h"
#include "controller/reconcile_loop.h"
#include "pki/pki.h"

namespace skiff::controller {

inline constexpr const char* kKubeletClientSigner = "kubernetes.io/kube-apiserver-client-kubelet";
inline constexpr const char* kKubeletServingSigner = "kubernetes.io/kubelet-serving";
inline constexpr const char* kApiServerClientSigner = "kubernetes.io/kube-apiserver-client";
inline constexpr const char* kMeshWorkloadSigner = "skiff.dev/mesh-workload";

struct CsrOptions {
  std::chrono::seconds maxLifetime{365 * 24 * 3600};
  std::string trustDomain = "cluster.local";  // of mesh identities
  std::chrono::seconds meshWorkloadGrace{30};  // for the pod that explains a mesh request to show up
  std::chrono::seconds keepFinished{3600};      // issued, denied or failed requests, then deleted
  std::chrono::seconds keepPending{24 * 3600};
};

struct CsrView;

class CsrController {
 public:
  CsrController(client::Client& client, client::Informer& csrs, client::Informer& nodes, client::Informer& pods, pki::CertificateAuthority ca,
                CsrOptions options = {});
  void start() { loop_.start(1); }
  void stop() { loop_.stop(); }
  Result<Requeue> reconcile(const std::string& name);

 private:
  std::optional<Result<Requeue>> cleanUp(const CsrView& v);

  client::Client& client_;
  client::Informer& csrs_;
  client::Informer& nodes_;
  client::Informer& pods_;
  pki::CertificateAuthority ca_;
  CsrOptions options_;
  ReconcileLoop loop_;
};

}  // namespace skiff::controller
