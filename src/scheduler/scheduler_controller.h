// SchedulerController: binds pending pods to nodes with schedule() (scheduler.h).
//
// Pods and nodes come from informers. Node usage (requests of the pods bound to each node) is
// kept incrementally from pod events, and a decision is "assumed" into it before the binding
// write, so several workers can bind in parallel (their writes share group commits). Pods that
// fit nowhere get PodScheduled=False with the reason per node class, and are retried when a node
// or a pod changes (and every 10 s).
#pragma once
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "client/event_recorder.h"
#include "client/informer.h"
#include "controller/work_queue.h"
#include "scheduler/scheduler.h"

namespace skiff::scheduler {

// What scheduling reads of a pod's volumes (the VolumeBinding plugin's view); empty functions =
// volumes are not considered.
struct VolumeView {
  std::function<client::ObjectPtr(const std::string& ns, const std::string& name)> claim;
  std::function<client::ObjectPtr(const std::string& name)> volume;
  std::function<client::ObjectPtr(const std::string& name)> storageClass;
};

class SchedulerController {
 public:
  SchedulerController(client::Client& client, client::Informer& pods, client::Informer& nodes,
                      int workers = 4, client::EventRecorder* events = nullptr, VolumeView volumes = {});
  ~SchedulerController() { stop(); }
  void start();
  void stop();

  uint64_t scheduled() const { return scheduled_.load(); }
  uint64_t attempts() const { return attempts_.load(); }

 private:
  void onPod(const std::string& type, const client::ObjectPtr& pod, const client::ObjectPtr& old);
  void run();
  void scheduleOne(const std::string& key);
  void account(const std::string& podKey, const std::string& node, const Resources& r,
               std::shared_ptr<const PodSummary> summary = nullptr);
  void unaccount(const std::string& podKey);
  void retryUnschedulable();
  // The pod's claims: a node they pin it to, claims to bind on the chosen node, or why it cannot be placed yet.
  struct VolumePlan {
    std::string unschedulable;  // a reason; the pod waits
    bool retrySoon = false;     // a claim is being bound: look again shortly
    std::string pinnedNode;     // kubernetes.io/hostname of a bound local volume
    std::vector<std::pair<std::string, std::string>> waitingClaims;  // WaitForFirstConsumer claims to give the node
  };
  VolumePlan volumePlan(const boost::json::value& pod) const;

  client::Client& client_;
  client::Informer& pods_;
  client::Informer& nodes_;
  int workers_;
  client::EventRecorder* events_;
  VolumeView volumes_;
  controller::WorkQueue queue_;
  std::vector<std::thread> threads_;
  std::thread resync_;
  std::atomic<bool> stopping_{false};

  void onNode(const std::string& type, const client::ObjectPtr& node);
  Resources* requestedOn(const std::string& node);  // usageMutex_ held

  // The snapshot decisions read: one NodeInfo per node, kept current by node events, with the
  // requests of the pods on it kept current by pod events. Guarded by usageMutex_.
  std::mutex usageMutex_;
  std::vector<NodeInfo> infos_;
  std::vector<client::ObjectPtr> nodeObjects_;                    // keeps infos_[i].node alive
  std::map<std::string, size_t> index_;                               // node name -> infos_ index
  std::map<std::string, Resources> orphanUsage_;                      // requests on nodes not seen yet
  std::map<std::string, std::pair<std::string, Resources>> placed_;   // pod key -> (node, requests)
  using PodsOnNode = std::unordered_map<std::string, std::shared_ptr<const PodSummary>>;
  std::map<std::string, PodsOnNode> orphanPods_;  // pods on unseen nodes
  PodsOnNode* podsOn(const std::string& node);    // usageMutex_ held
  std::set<std::string> unschedulable_;
  std::atomic<uint64_t> scheduled_{0}, attempts_{0}, rotation_{0};
};

}  // namespace skiff::scheduler
