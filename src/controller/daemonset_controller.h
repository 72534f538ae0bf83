// DaemonSetController: one pod of the template on every node that matches its nodeSelector and
// required node affinity and whose NoSchedule/NoExecute taints it tolerates. Each pod is pinned
// to its node with node affinity on metadata.name (the scheduler binds it, as in Kubernetes).
// RollingUpdate replaces pods of an old template maxUnavailable at a time.
#pragma once
#include "client/event_recorder.h"
#include "client/informer.h"
#include "controller/reconcile_loop.h"

namespace skiff::controller {

class DaemonSetController {
 public:
  DaemonSetController(client::Client& client, client::Informer& daemonSets, client::Informer& pods, client::Informer& nodes,
                      client::EventRecorder* events = nullptr);
  void start(int workers = 1) { loop_.start(workers); }
  void stop() { loop_.stop(); }
  Result<Requeue> reconcile(const std::string& key);

 private:
  client::Client& client_;
  client::Informer& daemonSets_;
  client::Informer& pods_;
  client::Informer& nodes_;
  client::EventRecorder* events_;
  ReconcileLoop loop_;
};

}  // namespace skiff::controller
