#include "controller/job_controller.h"

#include <boost/json.hpp>

#include "api/object.h"
#include "controller/workload.h"

namespace skiff::controller {
namespace json = boost::json;

JobController::JobController(client::Client& client, client::Informer& jobs, client::Informer& pods, client::EventRecorder* events)
    : client_(client), jobs_(jobs), pods_(pods), events_(events),
      loop_("job-controller", [this](const std::string& key) { return reconcile(key); }) {
  jobs_.addHandler([this](const std::string&, const client::ObjectPtr& j, const client::ObjectPtr&) { loop_.queue().add(client::keyOf(*j)); });
  pods_.addHandler([this](const std::string&, const client::ObjectPtr& pod, const client::ObjectPtr&) {
    if (std::string owner = controllerKey(*pod, "Job"); !owner.empty()) loop_.queue().add(owner);
  });
}

namespace {
bool hasCondition(const json::value& job, const char* type) {
  const json::value* conds = api::valueAt(job, "status.conditions");
  if (!conds || !conds->is_array()) return false;
  for (const auto& c : conds->get_array())
    if (api::stringAt(c, "type") == type && api::stringAt(c, "status") == "True") return true;
  return false;
}
json::object condition(const char* type, const char* reason, const std::string& message) {
  std::string now = api::rfc3339Now();
  return json::object{{"type", type}, {"status", "True"}, {"reason", reason}, {"message", message},
                      {"lastProbeTime", now}, {"lastTransitionTime", now}};
}
}  // namespace

Result<Requeue> JobController::reconcile(const std::string& key) {
  auto [ns, name] = client::splitKey(key);
  client::ObjectPtr job = jobs_.get(ns, name);
  if (!job || api::valueAt(*job, "metadata.deletionTimestamp")) return Requeue::done();
  const api::ResourceType& podType = *api::findByKind("v1", "Pod");
  const api::ResourceType& jobType = *api::findByKind("batch/v1", "Job");
  std::string uid = api::stringAt(*job, "metadata.uid");
  int64_t now = nowSeconds();
  std::vector<client::ObjectPtr> active;
  int64_t succeeded = 0, failed = 0, ready = 0;
  for (const auto& pod : pods_.listByOwner(uid)) {
    const json::value* ref = controllerRef(*pod);
    if (!ref || api::stringAt(*ref, "uid") != uid) continue;
    std::string phase = api::stringAt(*pod, "status.phase");
    if (phase == "Succeeded") ++succeeded;
    else if (phase == "Failed") ++failed;
    else if (!api::valueAt(*pod, "metadata.deletionTimestamp")) {
      active.push_back(pod);
      if (isPodReady(*pod)) ++ready;
      // OnFailure restarts count against backoffLimit too.
      if (const json::value* cs = api::valueAt(*pod, "status.containerStatuses"); cs && cs->is_array())
        for (const auto& c : cs->get_array()) failed += intAt(c, "restartCount", 0);
    }
  }
  bool finished = hasCondition(*job, "Complete") || hasCondition(*job, "Failed");
  auto deleteActive = [&]() -> Status {
    for (const auto& p : active) {
      auto r = client_.remove(podType, ns, api::stringAt(*p, "metadata.name"));
      if (!r && r.error().code != 404) return r.error();
    }
    return {};
  };
  if (finished) {
    if (Status s = deleteActive(); !s) return s.error();
    // ttlSecondsAfterFinished: the Job (and its pods, by garbage collection) goes after a while.
    if (const json::value* ttl = api::valueAt(*job, "spec.ttlSecondsAfterFinished"); ttl && ttl->is_int64()) {
      std::string doneAt = api::stringAt(*job, "status.completionTime");
      if (doneAt.empty())
        if (const json::value* conds = api::valueAt(*job, "status.conditions"); conds && conds->is_array())
          for (const auto& c : conds->get_array()) doneAt = std::max(doneAt, api::stringAt(c, "lastTransitionTime"));
      int64_t at = api::parseRfc3339(doneAt) + ttl->get_int64();
      if (now >= at) {
        auto r = client_.remove(jobType, ns, name);
        if (!r && r.error().code != 404) return r.error();
        return Requeue::done();
      }
      return Requeue::in(std::chrono::milliseconds((at - now) * 1000 + 100));
    }
    return Requeue::done();
  }
  int64_t parallelism = intAt(*job, "spec.parallelism", 1);
  int64_t completions = intAt(*job, "spec.completions", 1);
  int64_t backoffLimit = intAt(*job, "spec.backoffLimit", 6);
  bool suspended = api::valueAt(*job, "spec.suspend") && api::valueAt(*job, "spec.suspend")->is_bool() &&
                   api::valueAt(*job, "spec.suspend")->get_bool();
  std::string startTime = api::stringAt(*job, "status.startTime");
  if (startTime.empty() && !suspended) startTime = api::rfc3339Now();
  json::array conditions;
  std::string completionTime;
  bool done = false;
  if (succeeded >= completions) {
    conditions.push_back(condition("SuccessCriteriaMet", "CompletionsReached", "Reached expected number of succeeded pods"));
    conditions.push_back(condition("Complete", "CompletionsReached", "Reached expected number of succeeded pods"));
    completionTime = api::rfc3339Now();
    done = true;
    if (events_) events_->normal(*job, "Completed", "Job completed");
  } else if (failed > backoffLimit) {
    conditions.push_back(condition("FailureTarget", "BackoffLimitExceeded", "Job has reached the specified backoff limit"));
    conditions.push_back(condition("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"));
    done = true;
    if (events_) events_->warning(*job, "BackoffLimitExceeded", "Job has reached the specified backoff limit");
  } else if (const json::value* deadline = api::valueAt(*job, "spec.activeDeadlineSeconds");
             deadline && deadline->is_int64() && !startTime.empty() && now - api::parseRfc3339(startTime) >= deadline->get_int64()) {
    conditions.push_back(condition("FailureTarget", "DeadlineExceeded", "Job was active longer than specified deadline"));
    conditions.push_back(condition("Failed", "DeadlineExceeded", "Job was active longer than specified deadline"));
    done = true;
    if (events_) events_->warning(*job, "DeadlineExceeded", "Job was active longer than specified deadline");
  }
  if (done) {
    if (Status s = deleteActive(); !s) return s.error();
    active.clear();
  } else {
    int64_t want = suspended ? 0 : std::min(parallelism, completions - succeeded);
    int64_t diff = want - int64_t(active.size());
    if (diff > 0) {
      const json::value* templ = api::valueAt(*job, "spec.template");
      json::value pod = json::object{{"apiVersion", "v1"}, {"kind", "Pod"}};
      json::object meta{{"generateName", name + "-"}, {"namespace", ns}, {"ownerReferences", json::array{makeControllerRef(*job)}}};
      if (const json::value* l = templ ? api::valueAt(*templ, "metadata.labels") : nullptr) meta["labels"] = *l;
      if (const json::value* a = templ ? api::valueAt(*templ, "metadata.annotations") : nullptr) meta["annotations"] = *a;
      pod.get_object()["metadata"] = std::move(meta);
      pod.get_object()["spec"] = templ && api::valueAt(*templ, "spec") ? *api::valueAt(*templ, "spec") : json::object();
      for (int64_t i = 0; i < diff; ++i) {
        auto created = client_.create(podType, ns, pod);
        if (!created) return created.error();
        if (events_) events_->normal(*job, "SuccessfulCreate", "Created pod: " + api::stringAt(*created, "metadata.name"));
        active.push_back(std::make_shared<const json::value>(std::move(*created)));
      }
    } else if (diff < 0) {
      for (int64_t i = 0; i < -diff; ++i) {
        auto r = client_.remove(podType, ns, api::stringAt(*active[active.size() - 1 - size_t(i)], "metadata.name"));
        if (!r && r.error().code != 404) return r.error();
      }
    }
    if (suspended) conditions.push_back(condition("Suspended", "JobSuspended", "Job suspended"));
  }
  json::object status{{"active", int64_t(active.size())}, {"succeeded", succeeded}, {"failed", failed}, {"ready", ready}};
  if (!startTime.empty()) status["startTime"] = startTime;
  if (!completionTime.empty()) status["completionTime"] = completionTime;
  if (!conditions.empty()) status["conditions"] = conditions;
  if (!sameStatus(api::valueAt(*job, "status"), status)) {
    auto r = client_.patch(jobType, ns, name, client::PatchType::Merge, json::object{{"status", status}}, "status");
    if (!r && r.error().code != 404) return r.error();
  }
  if (const json::value* deadline = api::valueAt(*job, "spec.activeDeadlineSeconds"); deadline && deadline->is_int64() && !done)
    return Requeue::in(std::chrono::milliseconds(500));
  return Requeue::done();
}

}  // namespace skiff::controller
