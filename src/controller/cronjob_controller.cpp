#include "controller/cronjob_controller.h"

#include <boost/json.hpp>
#include <ctime>

#include "api/cron.h"
#include "api/object.h"
#include "controller/workload.h"

namespace skiff::controller {
namespace json = boost::json;

namespace {
std::string finishedAs(const json::value& job) {
  if (const json::value* conds = api::valueAt(job, "status.conditions"); conds && conds->is_array())
    for (const auto& c : conds->get_array())
      if (api::stringAt(c, "status") == "True" && (api::stringAt(c, "type") == "Complete" || api::stringAt(c, "type") == "Failed"))
        return api::stringAt(c, "type");
  return "";
}
}  // namespace

CronJobController::CronJobController(client::Client& client, client::Informer& cronJobs, client::Informer& jobs, client::EventRecorder* events)
    : client_(client), cronJobs_(cronJobs), jobs_(jobs), events_(events),
      loop_("cronjob-controller", [this](const std::string& key) { return reconcile(key); }) {
  cronJobs_.addHandler([this](const std::string&, const client::ObjectPtr& c, const client::ObjectPtr&) { loop_.queue().add(client::keyOf(*c)); });
  jobs_.addHandler([this](const std::string&, const client::ObjectPtr& job, const client::ObjectPtr&) {
    if (std::string owner = controllerKey(*job, "CronJob"); !owner.empty()) loop_.queue().add(owner);
  });
}

Result<Requeue> CronJobController::reconcile(const std::string& key) {
  auto [ns, name] = client::splitKey(key);
  client::ObjectPtr cj = cronJobs_.get(ns, name);
  if (!cj || api::valueAt(*cj, "metadata.deletionTimestamp")) return Requeue::done();
  const api::ResourceType& jobType = *api::findByKind("batch/v1", "Job");
  const api::ResourceType& cjType = *api::findByKind("batch/v1", "CronJob");
  auto schedule = api::CronSchedule::parse(api::stringAt(*cj, "spec.schedule"));
  if (!schedule) return Requeue::done();  // validation refuses these; nothing to run
  std::string uid = api::stringAt(*cj, "metadata.uid");
  int64_t now = nowSeconds();
  std::vector<client::ObjectPtr> jobs = jobs_.listByOwner(uid);
  std::vector<client::ObjectPtr> active, succeededJobs, failedJobs;
  std::string lastSuccess = api::stringAt(*cj, "status.lastSuccessfulTime");
  for (const auto& j : jobs) {
    std::string f = finishedAs(*j);
    if (f.empty()) active.push_back(j);
    else if (f == "Complete") {
      succeededJobs.push_back(j);
      lastSuccess = std::max(lastSuccess, api::stringAt(*j, "status.completionTime"));
    } else {
      failedJobs.push_back(j);
    }
  }
  bool suspended = api::valueAt(*cj, "spec.suspend") && api::valueAt(*cj, "spec.suspend")->is_bool() && api::valueAt(*cj, "spec.suspend")->get_bool();
  std::string lastText = api::stringAt(*cj, "status.lastScheduleTime");
  int64_t last = api::parseRfc3339(lastText.empty() ? api::stringAt(*cj, "metadata.creationTimestamp") : lastText);
  // The most recent missed time (at most 100 back, as Kubernetes counts).
  std::optional<int64_t> due;
  int missed = 0;
  for (auto t = schedule->next(last); t && *t <= now && missed < 100; t = schedule->next(*t), ++missed) due = t;
  std::string newLast = lastText;
  if (due && !suspended) {
    const json::value* deadline = api::valueAt(*cj, "spec.startingDeadlineSeconds");
    std::string policy = api::stringAt(*cj, "spec.concurrencyPolicy");
    if (deadline && deadline->is_int64() && now - *due > deadline->get_int64()) {
      if (events_) events_->warning(*cj, "MissSchedule", "Missed scheduled time to start a job: " + api::rfc3339(*due));
      newLast = api::rfc3339(*due);
    } else if (policy == "Forbid" && !active.empty()) {
      // Wait for the running Job; this run is skipped.
      if (events_) events_->normal(*cj, "JobAlreadyActive", "Not starting job because prior execution is running and concurrency policy is Forbid");
      newLast = api::rfc3339(*due);
    } else {
      if (policy == "Replace")
        for (const auto& j : active) {
          client::DeleteOptions bg;
          bg.propagationPolicy = "Background";
          auto r = client_.remove(jobType, ns, api::stringAt(*j, "metadata.name"), bg);
          if (!r && r.error().code != 404) return r.error();
          if (events_) events_->normal(*cj, "SuccessfulDelete", "Deleted job " + api::stringAt(*j, "metadata.name"));
        }
      const json::value* templ = api::valueAt(*cj, "spec.jobTemplate");
      std::string jobName = name + "-" + std::to_string(*due / 60);
      json::object meta{{"name", jobName}, {"namespace", ns}, {"ownerReferences", json::array{makeControllerRef(*cj)}},
                        {"annotations", json::object{{"batch.kubernetes.io/cronjob-scheduled-timestamp", api::rfc3339(*due)}}}};
      if (const json::value* l = templ ? api::valueAt(*templ, "metadata.labels") : nullptr) meta["labels"] = *l;
      json::value job = json::object{{"apiVersion", "batch/v1"}, {"kind", "Job"}, {"metadata", meta},
                                     {"spec", templ && api::valueAt(*templ, "spec") ? *api::valueAt(*templ, "spec") : json::object()}};
      auto created = client_.create(jobType, ns, job);
      if (!created && created.error().reason != "AlreadyExists") {
        if (events_) events_->warning(*cj, "FailedCreate", "Error creating job: " + created.error().message);
        return created.error();
      }
      if (created) {
        if (events_) events_->normal(*cj, "SuccessfulCreate", "Created job " + jobName);
        active.push_back(std::make_shared<const json::value>(std::move(*created)));
      }
      newLast = api::rfc3339(*due);
    }
  }
  // History limits: the oldest finished Jobs go first.
  auto prune = [&](std::vector<client::ObjectPtr>& finished, int64_t keep) -> Status {
    std::sort(finished.begin(), finished.end(), [](const client::ObjectPtr& a, const client::ObjectPtr& b) {
      return api::stringAt(*a, "metadata.creationTimestamp") < api::stringAt(*b, "metadata.creationTimestamp");
    });
    for (size_t i = 0; int64_t(finished.size() - i) > keep; ++i) {
      client::DeleteOptions bg;
      bg.propagationPolicy = "Background";
      auto r = client_.remove(jobType, ns, api::stringAt(*finished[i], "metadata.name"), bg);
      if (!r && r.error().code != 404) return r.error();
    }
    return {};
  };
  if (Status s = prune(succeededJobs, controller::intAt(*cj, "spec.successfulJobsHistoryLimit", 3)); !s) return s.error();
  if (Status s = prune(failedJobs, controller::intAt(*cj, "spec.failedJobsHistoryLimit", 1)); !s) return s.error();
  json::array activeRefs;
  for (const auto& j : active)
    activeRefs.push_back(json::object{{"kind", "Job"}, {"namespace", ns}, {"name", api::stringAt(*j, "metadata.name")},
                                      {"uid", api::stringAt(*j, "metadata.uid")}, {"apiVersion", "batch/v1"}});
  json::object status{{"active", activeRefs}};
  if (!newLast.empty()) status["lastScheduleTime"] = newLast;
  if (!lastSuccess.empty()) status["lastSuccessfulTime"] = lastSuccess;
  if (!sameStatus(api::valueAt(*cj, "status"), status)) {
    auto r = client_.patch(cjType, ns, name, client::PatchType::Merge, json::object{{"status", status}}, "status");
    if (!r && r.error().code != 404) return r.error();
  }
  auto next = schedule->next(now);
  if (!next) return Requeue::done();
  return Requeue::in(std::chrono::milliseconds((*next - now) * 1000 + 50));
}

}  // namespace skiff::controller
