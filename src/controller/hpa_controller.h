// HorizontalPodAutoscalerController (autoscaling/v2): scales a Deployment, ReplicaSet or
// StatefulSet through its scale subresource so that average CPU or memory utilization (usage
// over requests, from the pods' cgroups), or the average of a Pods metric — the node proxy's
// `http_requests_per_second` per pod, target type AverageValue — meets the target, with Kubernetes' algorithm:
// desired = ceil(current × utilization / target), a 10% tolerance, min/max replicas,
// stabilization windows (default 0 s up, 300 s down, from spec.behavior) and scale-up policies
// (at most double or +4 pods per 15 s). Status carries current metrics and the AbleToScale,
// ScalingActive and ScalingLimited conditions. Re-evaluated every 5 s.
#pragma once
#include <deque>
#include <functional>
#include <map>

#include "apiserver/node_client.h"
#include "client/event_recorder.h"
#include "client/informer.h"
#include "controller/reconcile_loop.h"

namespace skiff::controller {

struct PodUsage {
  double cpuCores = 0;
  uint64_t memoryBytes = 0;
  double requestsPerSecond = -1;  // through the node proxy; -1: the pod backs no Service here
  bool hasResources = false;      // cpu and memory were measured (cgroups)
};
// Usage of running pods, by "ns/name" (summed over containers); pods without data are absent.
using PodUsageSource = std::function<std::map<std::string, PodUsage>()>;
// Usage as the node servers report it (their Summary API and the node proxies' request rates),
// the way the HPA reads metrics.k8s.io and custom metrics in Kubernetes.
PodUsageSource usageFromNodes(apiserver::NodeClient& nodes);

class HpaController {
 public:
  HpaController(client::Client& client, client::Informer& hpas, client::Informer& pods, PodUsageSource usage, client::EventRecorder* events = nullptr);
  void start(int workers = 1) { loop_.start(workers); }
  void stop() { loop_.stop(); }
  Result<Requeue> reconcile(const std::string& key);

 private:
  client::Client& client_;
  client::Informer& hpas_;
  client::Informer& pods_;
  PodUsageSource usage_;
  client::EventRecorder* events_;
  std::mutex historyMutex_;
  std::map<std::string, std::deque<std::pair<int64_t, int64_t>>> recommendations_;  // key -> (time, replicas)
  ReconcileLoop loop_;
};

}  // namespace skiff::controller
