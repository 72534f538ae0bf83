// JobController: runs a Job's pods to completion. Keeps min(parallelism, completions - succeeded)
// pods active, counts succeeded and failed pods, and finishes the Job as Complete when enough
// succeed, or as Failed when failures pass backoffLimit (BackoffLimitExceeded) or it runs longer
// than activeDeadlineSeconds (DeadlineExceeded), stopping what is still active. Finished Jobs
// with ttlSecondsAfterFinished are deleted (with their pods) once it passes. suspend stops pods.
#pragma once
#include "client/event_recorder.h"
#include "client/informer.h"
#include "controller/reconcile_loop.h"

namespace skiff::controller {

class JobController {
 public:
  JobController(client::Client& client, client::Informer& jobs, client::Informer& pods, client::EventRecorder* events = nullptr);
  void start(int workers = 2) { loop_.start(workers); }
  void stop() { loop_.stop(); }
  Result<Requeue> reconcile(const std::string& key);

 private:
  client::Client& client_;
  client::Informer& jobs_;
  client::Informer& pods_;
  client::EventRecorder* events_;
  ReconcileLoop loop_;
};

}  // namespace skiff::controller
