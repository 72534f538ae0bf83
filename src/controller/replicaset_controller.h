// ReplicaSetController: keeps spec.replicas pods of a ReplicaSet's template alive. Creates the
// missing ones, deletes the surplus (unscheduled, not ready and newest first), adopts matching
// orphans, and reports replicas / ready / available counts in status.
#pragma once
#include "client/event_recorder.h"
#include "client/informer.h"
#include "controller/reconcile_loop.h"

namespace skiff::controller {

class ReplicaSetController {
 public:
  ReplicaSetController(client::Client& client, client::Informer& replicaSets, client::Informer& pods, client::EventRecorder* events = nullptr);
  void start(int workers = 2) { loop_.start(workers); }
  void stop() { loop_.stop(); }
  Result<Requeue> reconcile(const std::string& key);

 private:
  client::Client& client_;
  client::Informer& replicaSets_;
  client::Informer& pods_;
  client::EventRecorder* events_;
  ReconcileLoop loop_;
};

}  // namespace skiff::controller
