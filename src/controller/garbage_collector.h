// GarbageCollector: deletes objects whose owners are gone (background propagation), and
// completes Foreground and Orphan deletions: it deletes or un-owns the dependents of an owner
// held by the foregroundDeletion / orphan finalizer, then removes that finalizer.
//
// It follows every informer it is given; an owner is known by its uid.
#pragma once
#include <vector>

#include "controller/informer.h"
#include "controller/reconcile_loop.h"

namespace skiff::controller {

class GarbageCollector {
 public:
  GarbageCollector(apiserver::Registry& registry, std::vector<Informer*> informers);
  void start(int workers = 1) { loop_.start(workers); }
  void stop() { loop_.stop(); }

 private:
  Result<Requeue> reconcile(const std::string& key);
  // Dependents of `ownerUid` in `ns` across all informers.
  std::vector<std::pair<Informer*, ObjectPtr>> dependents(const std::string& ns, const std::string& ownerUid);

  apiserver::Registry& registry_;
  std::vector<Informer*> informers_;
  ReconcileLoop loop_;
};

}  // namespace skiff::controller
