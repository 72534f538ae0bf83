#include "controller/deployment_controller.h"

#include <boost/json.hpp>

#include "api/object.h"
#include "controller/workload.h"

namespace skiff::controller {
namespace json = boost::json;

namespace {
constexpr const char* kRevision = "deployment.kubernetes.io/revision";
constexpr const char* kPodTemplateHashLabel = "pod-template-hash";

int64_t revisionOf(const json::value& rs) {
  const json::value* ann = api::valueAt(rs, "metadata.annotations");
  const json::value* v = ann && ann->is_object() ? ann->get_object().if_contains(kRevision) : nullptr;
  return v && v->is_string() ? std::atoll(std::string(v->get_string()).c_str()) : 0;
}

// The template without the hash label, for comparing a ReplicaSet's template with the Deployment's.
json::value templateWithoutHash(const json::value* templ) {
  json::value t = templ ? *templ : json::value(json::object());
  if (auto* meta = t.is_object() ? t.get_object().if_contains("metadata") : nullptr; meta && meta->is_object())
    if (auto* labels = meta->get_object().if_contains("labels"); labels && labels->is_object()) labels->get_object().erase(kPodTemplateHashLabel);
  return t;
}

json::object condition(const char* type, const char* status, const char* reason, const std::string& message,
                       const std::string& lastUpdate, const std::string& lastTransition) {
  return json::object{{"type", type}, {"status", status}, {"reason", reason}, {"message", message},
                      {"lastUpdateTime", lastUpdate}, {"lastTransitionTime", lastTransition}};
}

const json::value* findCondition(const json::value& obj, const char* type) {
  const json::value* conds = api::valueAt(obj, "status.conditions");
  if (!conds || !conds->is_array()) return nullptr;
  for (const auto& c : conds->get_array())
    if (api::stringAt(c, "type") == type) return &c;
  return nullptr;
}
}  // namespace

DeploymentController::DeploymentController(client::Client& client, client::Informer& deployments, client::Informer& replicaSets,
                                           client::EventRecorder* events)
    : client_(client), deployments_(deployments), replicaSets_(replicaSets), events_(events),
      loop_("deployment-controller", [this](const std::string& key) { return reconcile(key); }) {
  deployments_.addHandler([this](const std::string&, const client::ObjectPtr& d, const client::ObjectPtr&) { loop_.queue().add(client::keyOf(*d)); });
  replicaSets_.addHandler([this](const std::string&, const client::ObjectPtr& rs, const client::ObjectPtr&) {
    if (std::string owner = controllerKey(*rs, "Deployment"); !owner.empty()) loop_.queue().add(owner);
  });
}

Result<Requeue> DeploymentController::reconcile(const std::string& key) {
  auto [ns, name] = client::splitKey(key);
  client::ObjectPtr d = deployments_.get(ns, name);
  if (!d || api::valueAt(*d, "metadata.deletionTimestamp")) return Requeue::done();
  const api::ResourceType& rsType = *api::findByKind("apps/v1", "ReplicaSet");
  const api::ResourceType& deployType = *api::findByKind("apps/v1", "Deployment");
  std::string uid = api::stringAt(*d, "metadata.uid");
  int64_t replicas = intAt(*d, "spec.replicas", 1);
  bool paused = api::valueAt(*d, "spec.paused") && api::valueAt(*d, "spec.paused")->is_bool() && api::valueAt(*d, "spec.paused")->get_bool();
  const json::value* templ = api::valueAt(*d, "spec.template");
  json::value wantTemplate = templateWithoutHash(templ);

  std::vector<client::ObjectPtr> owned;
  for (const auto& rs : replicaSets_.listByOwner(uid)) {
    const json::value* ref = controllerRef(*rs);
    if (ref && api::stringAt(*ref, "uid") == uid && !api::valueAt(*rs, "metadata.deletionTimestamp")) owned.push_back(rs);
  }
  std::sort(owned.begin(), owned.end(), [](const client::ObjectPtr& a, const client::ObjectPtr& b) { return revisionOf(*a) < revisionOf(*b); });
  client::ObjectPtr newRS;
  int64_t maxRevision = 0;
  for (const auto& rs : owned) {
    maxRevision = std::max(maxRevision, revisionOf(*rs));
    if (templateWithoutHash(api::valueAt(*rs, "spec.template")) == wantTemplate) newRS = rs;
  }
  std::vector<client::ObjectPtr> oldRSs;
  for (const auto& rs : owned)
    if (rs != newRS) oldRSs.push_back(rs);

  auto scale = [&](const client::ObjectPtr& rs, int64_t to) -> Status {
    int64_t from = intAt(*rs, "spec.replicas", 1);
    if (from == to) return {};
    if (events_)
      events_->normal(*d, "ScalingReplicaSet", std::string(to > from ? "Scaled up" : "Scaled down") + " replica set " +
                                                   api::stringAt(*rs, "metadata.name") + " from " + std::to_string(from) + " to " + std::to_string(to));
    auto r = client_.patch(rsType, ns, api::stringAt(*rs, "metadata.name"), client::PatchType::Merge,
                             json::object{{"spec", json::object{{"replicas", to}}}}, "");
    if (!r && r.error().code != 404) return r.error();
    return {};
  };

  std::string strategy = api::stringAt(*d, "spec.strategy.type");
  int64_t surge = resolveIntOrPercent(api::valueAt(*d, "spec.strategy.rollingUpdate.maxSurge"), replicas, true, 1);
  int64_t unavailable = resolveIntOrPercent(api::valueAt(*d, "spec.strategy.rollingUpdate.maxUnavailable"), replicas, false, 0);
  if (surge == 0 && unavailable == 0) unavailable = 1;

  if (!newRS && !paused) {
    // A new template: a new ReplicaSet, starting empty for Recreate or a rolling update, full otherwise.
    std::string hash = templateHash(wantTemplate, intAt(*d, "status.collisionCount", 0));
    json::value rsTemplate = templ ? *templ : json::value(json::object());
    json::value& tl = api::ensurePath(rsTemplate, "metadata.labels");
    if (!tl.is_object()) tl = json::object();
    tl.get_object()[kPodTemplateHashLabel] = hash;
    json::value selector = api::valueAt(*d, "spec.selector") ? *api::valueAt(*d, "spec.selector") : json::value(json::object());
    json::value& ml = api::ensurePath(selector, "matchLabels");
    if (!ml.is_object()) ml = json::object();
    ml.get_object()[kPodTemplateHashLabel] = hash;
    bool firstRollout = oldRSs.empty();
    int64_t initial = firstRollout ? replicas : 0;
    json::object labels = tl.get_object();
    json::value rs = json::object{
        {"apiVersion", "apps/v1"},
        {"kind", "ReplicaSet"},
        {"metadata", json::object{{"name", name + "-" + hash}, {"namespace", ns}, {"labels", labels},
                                  {"annotations", json::object{{kRevision, std::to_string(maxRevision + 1)},
                                                               {"deployment.kubernetes.io/desired-replicas", std::to_string(replicas)},
                                                               {"deployment.kubernetes.io/max-replicas", std::to_string(replicas + surge)}}},
                                  {"ownerReferences", json::array{makeControllerRef(*d)}}}},
        {"spec", json::object{{"replicas", initial}, {"minReadySeconds", intAt(*d, "spec.minReadySeconds", 0)},
                              {"selector", selector}, {"template", rsTemplate}}}};
    auto created = client_.create(rsType, ns, rs);
    if (!created) {
      if (created.error().reason == "AlreadyExists") {
        // Hash collision with a ReplicaSet of another template: bump collisionCount and retry.
        auto bumped = client_.patch(deployType, ns, name, client::PatchType::Merge,
                                      json::object{{"status", json::object{{"collisionCount", intAt(*d, "status.collisionCount", 0) + 1}}}},
                                      "status");
        if (!bumped) return bumped.error();
        return Requeue::in(std::chrono::milliseconds(1));
      }
      return created.error();
    }
    if (events_ && initial > 0)  // as Kubernetes: a ReplicaSet made at 0 (paused, or scaled later) is no scaling event
      events_->normal(*d, "ScalingReplicaSet", "Scaled up replica set " + name + "-" + hash + " from 0 to " + std::to_string(initial));
    newRS = replicaSets_.get(ns, name + "-" + hash);
    if (!newRS) newRS = std::make_shared<const json::value>(std::move(*created));
    maxRevision += 1;
  } else if (newRS && !paused && revisionOf(*newRS) < maxRevision) {
    // Rolling back to an older template makes its ReplicaSet the newest revision again.
    auto r = client_.patch(rsType, ns, api::stringAt(*newRS, "metadata.name"), client::PatchType::Merge,
                             json::object{{"metadata", json::object{{"annotations", json::object{{kRevision, std::to_string(maxRevision + 1)}}}}}}, "");
    if (!r) return r.error();
    maxRevision += 1;
  }

  if (newRS && paused) {
    // Paused: honour scaling on the current ReplicaSet, roll nothing.
    if (Status s = scale(newRS, replicas); !s) return s.error();
  } else if (newRS) {
    int64_t oldReplicas = 0, oldRunning = 0;
    for (const auto& rs : oldRSs) {
      oldReplicas += intAt(*rs, "spec.replicas", 0);
      oldRunning += intAt(*rs, "status.replicas", 0);
    }
    int64_t newSpec = intAt(*newRS, "spec.replicas", 0);
    if (strategy == "Recreate") {
      for (const auto& rs : oldRSs)
        if (Status s = scale(rs, 0); !s) return s.error();
      if (oldRunning == 0 && newSpec != replicas)  // old pods gone: start the new ones
        if (Status s = scale(newRS, replicas); !s) return s.error();
    } else {
      // Scale the new ReplicaSet up within maxSurge.
      if (newSpec > replicas) {
        if (Status s = scale(newRS, replicas); !s) return s.error();
        newSpec = replicas;
      } else if (newSpec < replicas) {
        int64_t total = newSpec + oldReplicas;
        int64_t room = replicas + surge - total;
        if (room > 0) {
          newSpec += std::min(room, replicas - newSpec);
          if (Status s = scale(newRS, newSpec); !s) return s.error();
        }
      }
      // Scale old ReplicaSets down while replicas - maxUnavailable pods stay available.
      if (oldReplicas > 0) {
        int64_t minAvailable = replicas - unavailable;
        int64_t newAvailable = intAt(*newRS, "status.availableReplicas", 0);
        int64_t newUnavailable = std::max<int64_t>(0, newSpec - newAvailable);
        int64_t maxScaleDown = (newSpec + oldReplicas) - minAvailable - newUnavailable;
        // Unhealthy old replicas go first: removing them costs no availability.
        for (const auto& rs : oldRSs) {
          if (maxScaleDown <= 0) break;
          int64_t spec = intAt(*rs, "spec.replicas", 0);
          int64_t unhealthy = std::max<int64_t>(0, spec - intAt(*rs, "status.availableReplicas", 0));
          int64_t cut = std::min(unhealthy, maxScaleDown);
          if (cut > 0) {
            if (Status s = scale(rs, spec - cut); !s) return s.error();
            maxScaleDown -= cut;
          }
        }
        int64_t totalAvailable = newAvailable;
        for (const auto& rs : oldRSs) totalAvailable += intAt(*rs, "status.availableReplicas", 0);
        int64_t canCut = std::min(maxScaleDown, totalAvailable - minAvailable);
        for (const auto& rs : oldRSs) {  // oldest first
          if (canCut <= 0) break;
          client::ObjectPtr fresh = replicaSets_.get(ns, api::stringAt(*rs, "metadata.name"));
          int64_t spec = fresh ? intAt(*fresh, "spec.replicas", 0) : 0;
          int64_t cut = std::min(spec, canCut);
          if (cut > 0) {
            if (Status s = scale(rs, spec - cut); !s) return s.error();
            canCut -= cut;
          }
        }
      }
    }
  }

  // Revision history: delete drained old ReplicaSets beyond revisionHistoryLimit (oldest first).
  int64_t limit = intAt(*d, "spec.revisionHistoryLimit", 10);
  std::vector<client::ObjectPtr> drained;
  for (const auto& rs : oldRSs) {
    client::ObjectPtr fresh = replicaSets_.get(ns, api::stringAt(*rs, "metadata.name"));
    if (fresh && intAt(*fresh, "spec.replicas", 0) == 0 && intAt(*fresh, "status.replicas", 0) == 0) drained.push_back(fresh);
  }
  for (size_t i = 0; int64_t(drained.size() - i) > limit; ++i) {
    auto r = client_.remove(rsType, ns, api::stringAt(*drained[i], "metadata.name"));
    if (!r && r.error().code != 404) return r.error();
  }

  // Status.
  int64_t sumReplicas = 0, sumReady = 0, sumAvailable = 0, updated = 0;
  for (const auto& rs : replicaSets_.listByOwner(uid)) {
    const json::value* ref = controllerRef(*rs);
    if (!ref || api::stringAt(*ref, "uid") != uid) continue;
    sumReplicas += intAt(*rs, "status.replicas", 0);
    sumReady += intAt(*rs, "status.readyReplicas", 0);
    sumAvailable += intAt(*rs, "status.availableReplicas", 0);
    if (newRS && api::stringAt(*rs, "metadata.name") == api::stringAt(*newRS, "metadata.name")) updated = intAt(*rs, "status.replicas", 0);
  }
  std::string now = api::rfc3339Now();
  bool available = sumAvailable >= replicas - unavailable;
  bool complete = newRS && updated == replicas && sumAvailable >= replicas && sumReplicas == replicas;
  const json::value* oldAvail = findCondition(*d, "Available");
  const json::value* oldProg = findCondition(*d, "Progressing");
  auto keepTransition = [&](const json::value* old, const char* status) {
    return old && api::stringAt(*old, "status") == status ? api::stringAt(*old, "lastTransitionTime") : now;
  };
  json::object availCond = condition("Available", available ? "True" : "False",
                                     available ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable",
                                     available ? "Deployment has minimum availability." : "Deployment does not have minimum availability.",
                                     now, keepTransition(oldAvail, available ? "True" : "False"));
  // Progress: counts that changed since the last status mean the rollout is moving.
  bool moved = intAt(*d, "status.updatedReplicas", -1) != updated || intAt(*d, "status.availableReplicas", -1) != sumAvailable ||
               intAt(*d, "status.replicas", -1) != sumReplicas || intAt(*d, "status.observedGeneration", 0) != intAt(*d, "metadata.generation", 1);
  std::string rsName = newRS ? api::stringAt(*newRS, "metadata.name") : "";
  json::object progCond;
  int64_t deadline = intAt(*d, "spec.progressDeadlineSeconds", 600);
  std::string lastProgress = oldProg ? api::stringAt(*oldProg, "lastUpdateTime") : now;
  if (paused) {
    progCond = condition("Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", now, keepTransition(oldProg, "Unknown"));
  } else if (complete) {
    progCond = condition("Progressing", "True", "NewReplicaSetAvailable", "ReplicaSet \"" + rsName + "\" has successfully progressed.",
                         oldProg && api::stringAt(*oldProg, "reason") == "NewReplicaSetAvailable" ? lastProgress : now,
                         keepTransition(oldProg, "True"));
  } else if (!moved && oldProg && api::stringAt(*oldProg, "reason") != "NewReplicaSetAvailable" &&
             api::parseRfc3339(lastProgress) >= 0 && nowSeconds() - api::parseRfc3339(lastProgress) > deadline) {
    progCond = condition("Progressing", "False", "ProgressDeadlineExceeded", "ReplicaSet \"" + rsName + "\" has timed out progressing.",
                         lastProgress, keepTransition(oldProg, "False"));
  } else {
    progCond = condition("Progressing", "True", "ReplicaSetUpdated", "ReplicaSet \"" + rsName + "\" is progressing.",
                         moved || !oldProg ? now : lastProgress, keepTransition(oldProg, "True"));
  }
  json::object status{{"observedGeneration", intAt(*d, "metadata.generation", 1)},
                      {"replicas", sumReplicas},
                      {"updatedReplicas", updated},
                      {"readyReplicas", sumReady},
                      {"availableReplicas", sumAvailable},
                      {"unavailableReplicas", std::max<int64_t>(0, std::max(replicas, sumReplicas) - sumAvailable)},
                      {"conditions", json::array{availCond, progCond}}};
  if (const json::value* cc = api::valueAt(*d, "status.collisionCount")) status["collisionCount"] = *cc;
  // Write only when something other than timestamps changed.
  if (!sameStatus(api::valueAt(*d, "status"), status)) {
    auto r = client_.patch(deployType, ns, name, client::PatchType::Merge, json::object{{"status", status}}, "status");
    if (!r && r.error().code != 404) return r.error();
  }
  // The revision annotation on the Deployment mirrors its newest ReplicaSet.
  if (newRS) {
    const json::value* ann = api::valueAt(*d, "metadata.annotations");
    const json::value* rev = ann && ann->is_object() ? ann->get_object().if_contains(kRevision) : nullptr;
    client::ObjectPtr latest = replicaSets_.get(ns, api::stringAt(*newRS, "metadata.name"));
    std::string want = std::to_string(revisionOf(latest ? *latest : *newRS));
    if (!rev || *rev != json::value(want)) {
      auto r = client_.patch(deployType, ns, name, client::PatchType::Merge,
                               json::object{{"metadata", json::object{{"annotations", json::object{{kRevision, want}}}}}}, "");
      if (!r && r.error().code != 404) return r.error();
    }
  }
  if (!complete && !paused) return Requeue::in(std::chrono::milliseconds(2000));  // deadline checks
  return Requeue::done();
}

}  // namespace skiff::controller
