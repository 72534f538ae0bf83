// ReconcileLoop: worker threads that take keys from a WorkQueue and call a reconcile function,
// requeueing failures with back-off and honouring "check again in N ms" answers. Every controller
// is one of these plus the informer handlers that feed its queue.
#pragma once
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "common/log.h"
#include "common/result.h"
#include "controller/work_queue.h"
#include "observe/metrics.h"

namespace skiff::controller {

// What a reconcile asks for next: nothing (done), or another look after a delay.
struct Requeue {
  std::chrono::milliseconds after{0};
  static Requeue done() { return {}; }
  static Requeue in(std::chrono::milliseconds ms) { return {ms}; }
};

class ReconcileLoop {
 public:
  using Reconcile = std::function<Result<Requeue>(const std::string& key)>;
  ReconcileLoop(std::string name, Reconcile reconcile) : name_(std::move(name)), reconcile_(std::move(reconcile)) {}
  ~ReconcileLoop() { stop(); }

  WorkQueue& queue() { return queue_; }
  void start(int workers) {
    for (int i = 0; i < workers; ++i)
      threads_.emplace_back([this] {
        static observe::Family<observe::Counter> reconciles("skiff_controller_reconcile_total",
                                                            "Reconciles by controller and result.", {"controller", "result"});
        static observe::Family<observe::Histogram> durations("skiff_controller_reconcile_duration_seconds",
                                                             "Time of one reconcile by controller.", {"controller"});
        static observe::Family<observe::Gauge> depth("workqueue_depth", "Keys waiting in a controller's queue.", {"name"});
        while (auto key = queue_.get()) {
          depth.with({name_}).set(double(queue_.depth()));
          auto started = std::chrono::steady_clock::now();
          Result<Requeue> r = Error::internal("not run");
          try {
            r = reconcile_(*key);
          } catch (const std::exception& e) {
            r = Error::internal(e.what());
          }
          durations.with({name_}).observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
          reconciles.with({name_, r ? "success" : "error"}).inc();
          if (!r) {
            log::warn(name_, *key + ": " + r.error().message + " (will retry)");
            queue_.retry(*key);
          } else {
            queue_.forget(*key);
            if (r->after.count() > 0) queue_.addAfter(*key, r->after);
          }
          queue_.done(*key);
        }
      });
  }
  void stop() {
    queue_.shutDown();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
    threads_.clear();
  }

 private:
  std::string name_;
  Reconcile reconcile_;
  WorkQueue queue_;
  std::vector<std::thread> threads_;
};

}  // namespace skiff::controller
