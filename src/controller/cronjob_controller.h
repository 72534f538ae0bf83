// CronJobController: creates a Job from jobTemplate at each scheduled time (UTC), honouring
// suspend, startingDeadlineSeconds and concurrencyPolicy (Allow, Forbid: skip while one runs,
// Replace: delete the running one), records lastScheduleTime / lastSuccessfulTime / active, and
// keeps successfulJobsHistoryLimit and failedJobsHistoryLimit finished Jobs.
#pragma once
#include "client/event_recorder.h"
#include "client/informer.h"
#include "controller/reconcile_loop.h"

namespace skiff::controller {

class CronJobController {
 public:
  CronJobController(client::Client& client, client::Informer& cronJobs, client::Informer& jobs, client::EventRecorder* events = nullptr);
  void start(int workers = 1) { loop_.start(workers); }
  void stop() { loop_.stop(); }
  Result<Requeue> reconcile(const std::string& key);

 private:
  client::Client& client_;
  client::Informer& cronJobs_;
  client::Informer& jobs_;
  client::EventRecorder* events_;
  ReconcileLoop loop_;
};

}  // namespace skiff::controller
