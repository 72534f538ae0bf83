// ResourceQuotaController: each ResourceQuota's status — hard as its spec says and used as the
// namespace's objects add up (apiserver/quota_admission.h counts them the same way) — as
// kube-controller-manager's resourcequota controller keeps it, so `kubectl describe quota` shows
// what is left. Admission does not depend on it (it counts at the create).
//
// Threading: one ReconcileLoop worker keyed by namespace. Quota and pod events enqueue a
// namespace that holds a quota; other counted kinds are listed at reconcile, which recurs every
// 15 s while the namespace has quotas (Kubernetes resyncs its quotas every 5 min), so ConfigMap
// or Secret writes cost nothing here.
#pragma once
#include <memory>
#include <vector>

#include "client/informer.h"
#include "controller/reconcile_loop.h"

namespace skiff::controller {

class ResourceQuotaController {
 public:
  ResourceQuotaController(client::Client& client, client::Informer& quotas, client::Informer& pods);
  void start() { loop_.start(1); }
  void stop() { loop_.stop(); }
  Result<Requeue> reconcile(const std::string& ns);

 private:
  client::Client& client_;
  client::Informer& quotas_;
  client::Informer& pods_;
  ReconcileLoop loop_;
};

}  // namespace skiff::controller
