// CronJobController: creates a Job from jobTemplate at each scheduled time (UTC), honouring
// suspend, startingDeadlineSeconds and concurrencyPolicy (Allow, Forbid: skip while one runs,
// Replace: delete the running one), records lastScheduleTime / lastSuccessfulTime / active, and
// keeps successfulJobsHistoryLimit and failedJobsHistoryLimit finished Jobs.
#pragma once
#include "controller/event_recorder.h"
#include "controller/informer.h"
#include "controller/reconcile_loop.h"

namespace skiff::controller {

class CronJobController {
 public:
  CronJobController(apiserver::Registry& registry, Informer& cronJobs, Informer& jobs, EventRecorder* events = nullptr);
  void start(int workers = 1) { loop_.start(workers); }
  void stop() { loop_.stop(); }
  Result<Requeue> reconcile(const std::string& key);

 private:
  apiserver::Registry& registry_;
  Informer& cronJobs_;
  Informer& jobs_;
  EventRecorder* events_;
  ReconcileLoop loop_;
};

}  // namespace skiff::controller
