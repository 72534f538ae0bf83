// VolumeBindingController: Kubernetes' persistent volume controller and a node-local dynamic
// provisioner (as k3s's local-path-provisioner), for claims of a class whose provisioner is
// rancher.io/local-path (skiff's default class, `local-path`).
//
// - A claim naming a volume, or matching an Available volume of its class (capacity and access
//   modes), binds to it: PV.spec.claimRef and Bound on both sides.
// - Otherwise a claim of a local-path class gets a new PersistentVolume `pvc-<claim uid>`: at once
//   for volumeBindingMode Immediate, and for WaitForFirstConsumer once the scheduler has put a pod
//   that uses it on a node (annotation volume.kubernetes.io/selected-node) — then the volume is
//   pinned to that node (nodeAffinity kubernetes.io/hostname), so later pods follow their data.
//   The node keeps the data in DATA/claims/pvc-<uid> (spec.local.path names it relative to the
//   node's data dir).
// - A volume whose claim is gone is Released; with reclaimPolicy Delete it is deleted.
// Claims of other provisioners are left Pending for them.
//
// Threading: one ReconcileLoop worker; handlers only enqueue ("claim/ns/name", "volume/name").
#pragma once
#include "client/event_recorder.h"
#include "client/informer.h"
#include "controller/reconcile_loop.h"

namespace skiff::controller {

inline constexpr const char* kLocalPathProvisioner = "rancher.io/local-path";
inline constexpr const char* kSelectedNodeAnnotation = "volume.kubernetes.io/selected-node";

class VolumeBindingController {
 public:
  // Before the informers start.
  VolumeBindingController(client::Client& client, client::Informer& claims, client::Informer& volumes, client::Informer& classes,
                          client::EventRecorder* events = nullptr);
  void start() { loop_.start(1); }
  void stop() { loop_.stop(); }
  Result<Requeue> reconcile(const std::string& key);

 private:
  Result<Requeue> reconcileClaim(const std::string& ns, const std::string& name);
  Result<Requeue> reconcileVolume(const std::string& name);
  Status bind(const boost::json::value& claim, const boost::json::value& volume);

  client::Client& client_;
  client::Informer& claims_;
  client::Informer& volumes_;
  client::Informer& classes_;
  client::EventRecorder* events_;
  ReconcileLoop loop_;
};

}  // namespace skiff::controller
