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

#include "controller/informer.h"
#include "controller/work_queue.h"
#include "scheduler/scheduler.h"

namespace skiff::scheduler {

class SchedulerController {
 public:
  SchedulerController(apiserver::Registry& registry, controller::Informer& pods, controller::Informer& nodes,
                      int workers = 4);
  ~SchedulerController() { stop(); }
  void start();
  void stop();

  uint64_t scheduled() const { return scheduled_.load(); }
  uint64_t attempts() const { return attempts_.load(); }

 private:
  void onPod(const std::string& type, const controller::ObjectPtr& pod, const controller::ObjectPtr& old);
  void run();
  void scheduleOne(const std::string& key);
  void account(const std::string& podKey, const std::string& node, const Resources& r);
  void unaccount(const std::string& podKey);
  void retryUnschedulable();

  apiserver::Registry& registry_;
  controller::Informer& pods_;
  controller::Informer& nodes_;
  int workers_;
  controller::WorkQueue queue_;
  std::vector<std::thread> threads_;
  std::thread resync_;
  std::atomic<bool> stopping_{false};

  std::mutex usageMutex_;
  std::map<std::string, Resources> usage_;                            // node -> requested
  std::map<std::string, std::pair<std::string, Resources>> placed_;   // pod key -> (node, requests)
  std::set<std::string> unschedulable_;
  std::atomic<uint64_t> scheduled_{0}, attempts_{0}, rotation_{0};
};

}  // namespace skiff::scheduler
