// PodGcController: kube-controller-manager's pod garbage collector. It force-deletes (grace 0)
// - pods bound to a Node that no longer exists, once this controller has seen the node missing
//   for the quarantine and a direct GET of the Node confirms it (an informer that lags behind a
//   just-created Node never costs a pod); the pod is first marked Failed with a DisruptionTarget
//   condition (reason DeletionByPodGC), as Kubernetes does, so its controllers see why;
// - terminating pods on a node that is not Ready and carries node.kubernetes.io/out-of-service
//   (the operator's statement that the node is down for good: no agent will finish them);
// - the oldest terminated pods (Succeeded or Failed) past terminatedPodThreshold.
// Without it a deleted node's pods stay forever and their ReplicaSets never replace them.
#pragma once
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "client/event_recorder.h"
#include "client/informer.h"

namespace skiff::controller {

struct PodGcOptions {
  std::chrono::milliseconds quarantine{5000};  // Kubernetes: 40 s (its informers poll slower than ours)
  std::chrono::milliseconds interval{1000};    // Kubernetes: 20 s
  size_t terminatedPodThreshold = 12500;       // kube-controller-manager's --terminated-pod-gc-threshold
};

class PodGcController {
 public:
  // Before the informers start (it follows terminated pods through a handler).
  PodGcController(client::Client& client, client::Informer& nodes, client::Informer& pods, PodGcOptions options = {},
                  client::EventRecorder* events = nullptr);
  ~PodGcController() { stop(); }
  void start();
  void stop();
  void tick();  // one pass; public for tests

 private:
  void collectOrphans();
  void collectOutOfService();
  void collectTerminated();
  // Marks the pod Failed (DisruptionTarget) and deletes it with grace 0.
  void forceDelete(const boost::json::value& pod, const std::string& why);

  client::Client& client_;
  client::Informer& nodes_;
  client::Informer& pods_;
  PodGcOptions options_;
  client::EventRecorder* events_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::map<std::string, std::chrono::steady_clock::time_point> missingSince_;  // node -> first seen missing (tick() only)
  // Terminated pods not being deleted ("ns/name" -> creationTimestamp), kept by the pod
  // handler so a pass never parses every cached pod.
  std::mutex terminatedMutex_;
  std::map<std::string, std::string> terminated_;
};

}  // namespace skiff::controller
