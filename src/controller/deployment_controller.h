// DeploymentController: rolls a Deployment's pod template out through ReplicaSets.
//
// Each distinct template gets a ReplicaSet named <deployment>-<pod-template-hash>, with the hash
// added to its selector and labels. RollingUpdate scales the new one up within maxSurge and the
// old ones down while at least replicas - maxUnavailable pods stay available; Recreate scales the
// old ones to zero first. Revisions are recorded in the deployment.kubernetes.io/revision
// annotation, old ReplicaSets beyond revisionHistoryLimit are deleted, and status carries the
// replica counts with the Available and Progressing conditions (ProgressDeadlineExceeded after
// progressDeadlineSeconds without progress). A paused Deployment scales but does not roll out.
#pragma once
#include "client/event_recorder.h"
#include "client/informer.h"
#include "controller/reconcile_loop.h"

namespace skiff::controller {

class DeploymentController {
 public:
  DeploymentController(client::Client& client, client::Informer& deployments, client::Informer& replicaSets,
                       client::EventRecorder* events = nullptr);
  void start(int workers = 2) { loop_.start(workers); }
  void stop() { loop_.stop(); }
  Result<Requeue> reconcile(const std::string& key);

 private:
  client::Client& client_;
  client::Informer& deployments_;
  client::Informer& replicaSets_;
  client::EventRecorder* events_;
  ReconcileLoop loop_;
};

}  // namespace skiff::controller
