// NodeLifecycleController: watches node Leases. A node whose Lease has not been renewed for the
// grace period (no change of spec.renewTime seen for that long on this controller's clock, so
// clock skew between machines does not matter; a new controller gives every node a full grace
// period) gets Ready=Unknown and the node.kubernetes.io/unreachable:NoExecute taint; pods on
// it that do not tolerate the taint are evicted at once, those that tolerate it for
// tolerationSeconds are evicted when that runs out (Kubernetes adds a 300 s toleration to every
// pod). When the Lease is renewed again the taint goes and the node is Ready. A node whose
// NetworkUnavailable condition is True is tainted node.kubernetes.io/network-unavailable:NoSchedule
// (Kubernetes' TaintNodesByCondition) until the condition clears.
#pragma once
#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <thread>

#include "client/event_recorder.h"
#include "client/informer.h"

namespace skiff::controller {

struct NodeLifecycleOptions {
  std::chrono::milliseconds gracePeriod{40000};  // kube-controller-manager's --node-monitor-grace-period
  std::chrono::milliseconds interval{500};
};

class NodeLifecycleController {
 public:
  NodeLifecycleController(client::Client& client, client::Informer& nodes, client::Informer& leases, client::Informer& pods,
                          NodeLifecycleOptions options = {}, client::EventRecorder* events = nullptr)
      : client_(client), nodes_(nodes), leases_(leases), pods_(pods), options_(options), events_(events) {}
  ~NodeLifecycleController() { stop(); }
  void start();
  void stop();
  void tick();  // one pass; public for tests

 private:
  void syncConditionTaints(const boost::json::value& node);

  client::Client& client_;
  client::Informer& nodes_;
  client::Informer& leases_;
  client::Informer& pods_;
  NodeLifecycleOptions options_;
  client::EventRecorder* events_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  struct Observation {
    std::string renewTime;
    std::chrono::steady_clock::time_point at;  // when this controller saw renewTime change
  };
  std::map<std::string, Observation> observed_;  // node -> its lease, as last seen (tick() only)
};

}  // namespace skiff::controller
