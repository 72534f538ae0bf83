// StatefulSetController: pods with stable names <name>-<ordinal> (0..replicas-1), hostname and
// subdomain (serviceName) set, created in order and each only once the previous is Running and
// Ready (OrderedReady) or all at once (Parallel); scaled down from the highest ordinal; updated
// from the highest ordinal down to `partition`, one pod at a time (RollingUpdate) or only when
// deleted (OnDelete). Pod revisions are recorded in controller-revision-hash.
// Not yet: volumeClaimTemplates (no PersistentVolumeClaims until the native runtime mounts them).
#pragma once
#include "client/event_recorder.h"
#include "client/informer.h"
#include "controller/reconcile_loop.h"

namespace skiff::controller {

class StatefulSetController {
 public:
  StatefulSetController(client::Client& client, client::Informer& statefulSets, client::Informer& pods, client::EventRecorder* events = nullptr);
  void start(int workers = 1) { loop_.start(workers); }
  void stop() { loop_.stop(); }
  Result<Requeue> reconcile(const std::string& key);

 private:
  // Creates the claims of one pod from the volumeClaimTemplates (kept when the pod goes: the next
  // pod of that ordinal gets the same data, as persistentVolumeClaimRetentionPolicy Retain says).
  Status ensureClaims(const boost::json::value& sts, const std::string& podName);
  client::Client& client_;
  client::Informer& statefulSets_;
  client::Informer& pods_;
  client::EventRecorder* events_;
  ReconcileLoop loop_;
};

}  // namespace skiff::controller
