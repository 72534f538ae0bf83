// BootstrapSigner: keeps kube-public/cluster-info signed by every bootstrap token that may sign
// (usage-bootstrap-signing, unexpired) — one data key jws-kubeconfig-<token id> each, a detached
// JWS over data.kubeconfig — and removes the signatures of tokens that are gone, as
// kube-controller-manager's bootstrapsigner does. Expired bootstrap token Secrets are deleted
// (its tokencleaner), so a stale token neither authenticates nor signs.
//
// Threading: one ReconcileLoop worker; handlers only enqueue the one key.
#pragma once
#include "client/informer.h"
#include "controller/reconcile_loop.h"

namespace skiff::controller {

class BootstrapSigner {
 public:
  // `tokens`: Secrets in kube-system of type bootstrap.kubernetes.io/token; `clusterInfo`:
  // ConfigMaps in kube-public.
  BootstrapSigner(client::Client& client, client::Informer& tokens, client::Informer& clusterInfo);
  void start() { loop_.start(1); }
  void stop() { loop_.stop(); }
  Result<Requeue> reconcile(const std::string& key);

 private:
  client::Client& client_;
  client::Informer& tokens_;
  client::Informer& clusterInfo_;
  ReconcileLoop loop_;
};

}  // namespace skiff::controller
