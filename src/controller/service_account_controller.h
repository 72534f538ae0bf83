// ServiceAccountController: every namespace has a `default` ServiceAccount, as
// kube-controller-manager's serviceaccounts controller ensures (created with the namespace, and
// again if someone deletes it). Pods run as it unless they name another.
//
// Threading: one ReconcileLoop worker; handlers only enqueue the namespace.
#pragma once
#include "client/informer.h"
#include "controller/reconcile_loop.h"

namespace skiff::controller {

class ServiceAccountController {
 public:
  ServiceAccountController(client::Client& client, client::Informer& namespaces, client::Informer& serviceAccounts);
  void start() { loop_.start(1); }
  void stop() { loop_.stop(); }
  Result<Requeue> reconcile(const std::string& ns);

 private:
  client::Client& client_;
  client::Informer& namespaces_;
  client::Informer& serviceAccounts_;
  ReconcileLoop loop_;
};

}  // namespace skiff::controller
