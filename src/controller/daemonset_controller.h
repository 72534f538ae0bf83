// DaemonSetController: one pod of the template on every node that matches its nodeSelector and
// required node affinity and whose NoSchedule/NoExecute taints it tolerates. Each pod is pinned
// to its node with node affinity on metadata.name (the scheduler binds it, as in Kubernetes).
// RollingUpdate replaces pods of an old template maxUnavailable at a time.
#pragma once
#include "controller/event_recorder.h"
#include "controller/informer.h"
#include "controller/reconcile_loop.h"

namespace skiff::controller {

class DaemonSetController {
 public:
  DaemonSetController(apiserver::Registry& registry, Informer& daemonSets, Informer& pods, Informer& nodes,
                      EventRecorder* events = nullptr);
  void start(int workers = 1) { loop_.start(workers); }
  void stop() { loop_.stop(); }
  Result<Requeue> reconcile(const std::string& key);

 private:
  apiserver::Registry& registry_;
  Informer& daemonSets_;
  Informer& pods_;
  Informer& nodes_;
  EventRecorder* events_;
  ReconcileLoop loop_;
};

}  // namespace skiff::controller
