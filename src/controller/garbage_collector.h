// GarbageCollector: deletes objects whose owners are gone (background propagation), and
// completes Foreground and Orphan deletions: it deletes or un-owns the dependents of an owner
// held by the foregroundDeletion / orphan finalizer, then removes that finalizer.
//
// It follows every informer it is given; an owner is known by its uid.
#pragma once
#include <vector>

#include "client/informer.h"
#include "controller/reconcile_loop.h"

namespace skiff::controller {

class GarbageCollector {
 public:
  GarbageCollector(client::Client& client, std::vector<client::Informer*> informers);
  void start(int workers = 1) { loop_.start(workers); }
  void stop() { loop_.stop(); }

 private:
  Result<Requeue> reconcile(const std::string& key);
  // Dependents of `ownerUid` in `ns` across all informers.
  std::vector<std::pair<client::Informer*, client::ObjectPtr>> dependents(const std::string& ns, const std::string& ownerUid);

  client::Client& client_;
  std::vector<client::Informer*> informers_;
  ReconcileLoop loop_;
};

}  // namespace skiff::controller
