// ReplicaSetController: keeps spec.replicas pods of a ReplicaSet's template alive. Creates the
// missing ones, deletes the surplus (unscheduled, not ready and newest first), adopts matching
// orphans, and reports replicas / ready / available counts in status.
#pragma once
#include "controller/event_recorder.h"
#include "controller/informer.h"
#include "controller/reconcile_loop.h"

namespace skiff::controller {

class ReplicaSetController {
 public:
  ReplicaSetController(apiserver::Registry& registry, Informer& replicaSets, Informer& pods, EventRecorder* events = nullptr);
  void start(int workers = 2) { loop_.start(workers); }
  void stop() { loop_.stop(); }
  Result<Requeue> reconcile(const std::string& key);

 private:
  apiserver::Registry& registry_;
  Informer& replicaSets_;
  Informer& pods_;
  EventRecorder* events_;
  ReconcileLoop loop_;
};

}  // namespace skiff::controller
