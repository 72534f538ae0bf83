// DisruptionController: keeps each PodDisruptionBudget's status current, as
// kube-controller-manager's disruption controller does, so the pods/eviction subresource
// (src/apiserver/pod_eviction.h) can decide from it:
// - currentHealthy: selected pods that are Ready, not being deleted and not just evicted (an
//   entry in status.disruptedPods younger than two minutes);
// - expectedPods and desiredHealthy: minAvailable as a count expects the selected pods and desires
//   that many; a percentage minAvailable, or maxUnavailable, expects the sum of the owning
//   controllers' replicas (Deployment through its ReplicaSet, ReplicaSet, StatefulSet) and scales
//   against it (rounding up). Pods without a controller are left out with an UnmanagedPods event;
//   a controller that cannot be found fails the sync safe (disruptionsAllowed 0, SyncFailed);
// - disruptionsAllowed = currentHealthy - desiredHealthy (0 when negative or nothing is expected),
//   the DisruptionAllowed condition (SufficientPods / InsufficientPods) and observedGeneration.
//
// Threading: ReconcileLoop workers; informer handlers only enqueue budget keys, reconcile reads
// the caches and writes status with optimistic concurrency (an eviction may write it too).
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "api/disruption_budget.h"
#include "client/event_recorder.h"
#include "client/informer.h"
#include "controller/reconcile_loop.h"

namespace skiff::controller {

// What the computation needs of a selected pod, read once.
struct DisruptionPod {
  std::string name;
  bool ready = false;
  bool deleting = false;
  // The controller ownerReference, if any.
  std::string ownerApiVersion, ownerKind, ownerName, ownerUid;
};
DisruptionPod disruptionPodOf(const boost::json::value& pod);

// A controller's identity and the replicas it wants.
struct ControllerScale {
  std::string uid;
  int64_t replicas = 0;
};
// The scale of the pod's controller, or nullopt when no known controller with that uid exists.
using ScaleFinder = std::function<std::optional<ControllerScale>(const DisruptionPod&)>;

struct DisruptionComputation {
  api::DisruptionBudgetStatus status;
  std::string syncError;                   // non-empty: fail safe (disruptionsAllowed 0, SyncFailed)
  std::vector<std::string> unmanagedPods;  // selected pods without a controller
  std::optional<int64_t> recheckAt;        // when a disruptedPods entry expires (seconds since epoch)
};

// The budget's status from its selected pods at time `now` (seconds since epoch). Pure.
DisruptionComputation computeDisruptionStatus(const api::DisruptionBudget& budget, const std::vector<DisruptionPod>& pods,
                                              const ScaleFinder& scaleOf, int64_t now);

class DisruptionController {
 public:
  DisruptionController(client::Client& client, client::Informer& budgets, client::Informer& pods, client::Informer& replicaSets,
                       client::Informer& deployments, client::Informer& statefulSets, client::EventRecorder* events = nullptr);
  void start(int workers = 1) { loop_.start(workers); }
  void stop() { loop_.stop(); }
  Result<Requeue> reconcile(const std::string& key);

 private:
  void enqueueBudgetsOf(const boost::json::value& pod);
  std::optional<ControllerScale> scaleOf(const std::string& ns, const DisruptionPod& pod) const;

  client::Client& client_;
  client::Informer& budgets_;
  client::Informer& pods_;
  client::Informer& replicaSets_;
  client::Informer& deployments_;
  client::Informer& statefulSets_;
  client::EventRecorder* events_;
  ReconcileLoop loop_;
};

}  // namespace skiff::controller
