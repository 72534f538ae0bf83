// NamespaceController: finishes the deletion of namespaces. When a namespace is marked for
// deletion (Terminating), it deletes every object of every namespaced kind inside, and once the
// namespace is empty removes the `kubernetes` finalizer so the API server can delete it.
//
// Runs in-process on the Registry (the same calls the REST layer makes), with one worker thread
// fed by a watch on namespaces plus a periodic resync.
#pragma once
#include <functional>
#include <memory>
#include <vector>
#include <thread>

#include "client/client.h"
#include "controller/work_queue.h"

namespace skiff::controller {

class NamespaceController {
 public:
  // `customKinds`: the kinds CustomResourceDefinitions add (their objects go with the namespace too).
  using Kinds = std::function<std::vector<const api::ResourceType*>()>;
  explicit NamespaceController(client::Client& client, Kinds customKinds = {}) : client_(client), customKinds_(std::move(customKinds)) {}
  ~NamespaceController() { stop(); }
  Status start();
  void stop();
  // One reconcile of one namespace; true when nothing is left to do.
  Result<bool> reconcile(const std::string& name);

 private:
  void run();
  client::Client& client_;
  Kinds customKinds_;
  WorkQueue queue_;
  std::unique_ptr<store::Watch> watch_;
  std::thread worker_, resync_;
  std::mutex stopMutex_;
  std::condition_variable stopCv_;
  bool stopping_ = false;
};

}  // namespace skiff::controller
