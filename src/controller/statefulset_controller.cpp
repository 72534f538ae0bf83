#include "controller/statefulset_controller.h"

#include <boost/json.hpp>

#include "api/object.h"
#include "controller/workload.h"

namespace skiff::controller {
namespace json = boost::json;

namespace {
constexpr const char* kRevisionLabel = "controller-revision-hash";
}

StatefulSetController::StatefulSetController(client::Client& client, client::Informer& statefulSets, client::Informer& pods,
                                             client::EventRecorder* events)
    : client_(client), statefulSets_(statefulSets), pods_(pods), events_(events),
      loop_("statefulset-controller", [this](const std::string& key) { return reconcile(key); }) {
  statefulSets_.addHandler([this](const std::string&, const client::ObjectPtr& s, const client::ObjectPtr&) { loop_.queue().add(client::keyOf(*s)); });
  pods_.addHandler([this](const std::string&, const client::ObjectPtr& pod, const client::ObjectPtr&) {
    if (std::string owner = controllerKey(*pod, "StatefulSet"); !owner.empty()) loop_.queue().add(owner);
  });
}

Status StatefulSetController::ensureClaims(const json::value& sts, const std::string& podName) {
  const json::value* vcts = api::valueAt(sts, "spec.volumeClaimTemplates");
  if (!vcts || !vcts->is_array()) return {};
  const api::ResourceType& pvcType = *api::findByKind("v1", "PersistentVolumeClaim");
  std::string ns = api::stringAt(sts, "metadata.namespace");
  for (const auto& vct : vcts->get_array()) {
    std::string claim = api::stringAt(vct, "metadata.name") + "-" + podName;
    if (client_.get(pvcType, ns, claim)) continue;
    json::object labels;
    if (const json::value* l = api::valueAt(sts, "spec.selector.matchLabels"); l && l->is_object()) labels = l->get_object();
    if (const json::value* l = api::valueAt(vct, "metadata.labels"); l && l->is_object())
      for (const auto& kv : l->get_object()) labels[kv.key()] = kv.value();
    json::value spec = api::valueAt(vct, "spec") ? *api::valueAt(vct, "spec") : json::value(json::object());
    json::value pvc = json::object{{"apiVersion", "v1"}, {"kind", "PersistentVolumeClaim"},
                                   {"metadata", json::object{{"name", claim}, {"namespace", ns}, {"labels", labels}}}, {"spec", spec}};
    auto created = client_.create(pvcType, ns, pvc);
    if (!created && created.error().reason != "AlreadyExists") {
      if (events_) events_->warning(sts, "FailedCreate", "create Claim " + claim + " for Pod " + podName + " failed error: " + created.error().message);
      return created.error();
    }
    if (created && events_) events_->normal(sts, "SuccessfulCreate", "create Claim " + claim + " Pod " + podName + " in StatefulSet " + api::stringAt(sts, "metadata.name") + " success");
  }
  return {};
}

Result<Requeue> StatefulSetController::reconcile(const std::string& key) {
  auto [ns, name] = client::splitKey(key);
  client::ObjectPtr sts = statefulSets_.get(ns, name);
  if (!sts || api::valueAt(*sts, "metadata.deletionTimestamp")) return Requeue::done();
  const api::ResourceType& podType = *api::findByKind("v1", "Pod");
  std::string uid = api::stringAt(*sts, "metadata.uid");
  int64_t replicas = intAt(*sts, "spec.replicas", 1);
  bool parallel = api::stringAt(*sts, "spec.podManagementPolicy") == "Parallel";
  bool onDelete = api::stringAt(*sts, "spec.updateStrategy.type") == "OnDelete";
  int64_t partition = intAt(*sts, "spec.updateStrategy.rollingUpdate.partition", 0);
  const json::value* templ = api::valueAt(*sts, "spec.template");
  std::string revision = name + "-" + templateHash(templ ? *templ : json::value());

  std::map<int64_t, client::ObjectPtr> byOrdinal;
  std::vector<client::ObjectPtr> strays;  // ordinals >= replicas
  for (const auto& pod : pods_.listByOwner(uid)) {
    const json::value* ref = controllerRef(*pod);
    if (!ref || api::stringAt(*ref, "uid") != uid) continue;
    std::string podName = api::stringAt(*pod, "metadata.name");
    auto dash = podName.rfind('-');
    int64_t ordinal = dash == std::string::npos ? -1 : std::atoll(podName.c_str() + dash + 1);
    if (ordinal >= 0 && ordinal < replicas) byOrdinal[ordinal] = pod;
    else strays.push_back(pod);
  }
  auto healthy = [](const json::value& p) {
    return !api::valueAt(p, "metadata.deletionTimestamp") && api::stringAt(p, "status.phase") == "Running" && isPodReady(p);
  };
  auto makePod = [&](int64_t ordinal) {
    std::string podName = name + "-" + std::to_string(ordinal);
    json::object labels = templ && api::valueAt(*templ, "metadata.labels") && api::valueAt(*templ, "metadata.labels")->is_object()
                              ? api::valueAt(*templ, "metadata.labels")->get_object()
                              : json::object();
    labels["statefulset.kubernetes.io/pod-name"] = podName;
    labels["apps.kubernetes.io/pod-index"] = std::to_string(ordinal);
    labels[kRevisionLabel] = revision;
    json::value spec = templ && api::valueAt(*templ, "spec") ? *api::valueAt(*templ, "spec") : json::value(json::object());
    spec.get_object()["hostname"] = podName;
    // Each volumeClaimTemplate becomes a claim of this ordinal's own, mounted under the template's name.
    if (const json::value* vcts = api::valueAt(*sts, "spec.volumeClaimTemplates"); vcts && vcts->is_array() && !vcts->get_array().empty()) {
      json::value& vols = spec.get_object()["volumes"];
      if (!vols.is_array()) vols = json::array();
      for (const auto& vct : vcts->get_array()) {
        std::string vname = api::stringAt(vct, "metadata.name");
        json::array kept;
        for (const auto& v : vols.get_array())
          if (api::stringAt(v, "name") != vname) kept.push_back(v);
        kept.push_back(json::object{{"name", vname}, {"persistentVolumeClaim", json::object{{"claimName", vname + "-" + podName}}}});
        vols = kept;
      }
    }
    if (std::string svc = api::stringAt(*sts, "spec.serviceName"); !svc.empty()) spec.get_object()["subdomain"] = svc;
    json::object meta{{"name", podName}, {"namespace", ns}, {"labels", labels}, {"ownerReferences", json::array{makeControllerRef(*sts)}}};
    if (const json::value* a = templ ? api::valueAt(*templ, "metadata.annotations") : nullptr) meta["annotations"] = *a;
    return json::value(json::object{{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", meta}, {"spec", spec}});
  };

  // Create missing ordinals in order; with OrderedReady, stop at the first that is not yet healthy.
  for (int64_t i = 0; i < replicas; ++i) {
    auto it = byOrdinal.find(i);
    if (it == byOrdinal.end()) {
      if (Status s = ensureClaims(*sts, name + "-" + std::to_string(i)); !s) return s.error();
      auto created = client_.create(podType, ns, makePod(i));
      if (!created && created.error().reason != "AlreadyExists") return created.error();
      if (created && events_) events_->normal(*sts, "SuccessfulCreate", "create Pod " + name + "-" + std::to_string(i) + " in StatefulSet " + name + " successful");
      if (!parallel) break;
      continue;
    }
    if (!parallel && !healthy(*it->second)) break;
  }
  // Scale down from the highest ordinal, one at a time unless Parallel.
  std::sort(strays.begin(), strays.end(), [](const client::ObjectPtr& a, const client::ObjectPtr& b) {
    return api::stringAt(*a, "metadata.name").size() != api::stringAt(*b, "metadata.name").size()
               ? api::stringAt(*a, "metadata.name").size() > api::stringAt(*b, "metadata.name").size()
               : api::stringAt(*a, "metadata.name") > api::stringAt(*b, "metadata.name");
  });
  for (const auto& p : strays) {
    if (api::valueAt(*p, "metadata.deletionTimestamp")) {
      if (!parallel) break;
      continue;
    }
    auto r = client_.remove(podType, ns, api::stringAt(*p, "metadata.name"));
    if (!r && r.error().code != 404) return r.error();
    if (events_) events_->normal(*sts, "SuccessfulDelete", "delete Pod " + api::stringAt(*p, "metadata.name") + " in StatefulSet " + name + " successful");
    if (!parallel) break;
  }
  // Rolling update: highest ordinal first, down to the partition, one at a time.
  if (!onDelete && strays.empty()) {
    bool allHealthy = true;
    for (const auto& [i, p] : byOrdinal) allHealthy = allHealthy && healthy(*p);
    if (allHealthy && int64_t(byOrdinal.size()) == replicas)
      for (auto it = byOrdinal.rbegin(); it != byOrdinal.rend(); ++it) {
        if (it->first < partition) break;
        if (api::stringAt(*it->second, std::string("metadata.labels.") + kRevisionLabel) == revision) continue;
        auto r = client_.remove(podType, ns, api::stringAt(*it->second, "metadata.name"));
        if (!r && r.error().code != 404) return r.error();
        break;
      }
  }
  int64_t ready = 0, current = 0, updated = 0, available = 0, count = 0;
  int64_t minReady = intAt(*sts, "spec.minReadySeconds", 0), now = nowSeconds();
  for (const auto& [i, p] : byOrdinal) {
    if (api::valueAt(*p, "metadata.deletionTimestamp")) continue;
    ++count;
    if (isPodReady(*p)) ++ready;
    if (isPodAvailable(*p, minReady, now)) ++available;
    if (api::stringAt(*p, std::string("metadata.labels.") + kRevisionLabel) == revision) ++updated;
    else ++current;
  }
  json::object status{{"observedGeneration", intAt(*sts, "metadata.generation", 1)}, {"replicas", count}, {"readyReplicas", ready},
                      {"currentReplicas", updated == count ? count : current}, {"updatedReplicas", updated},
                      {"availableReplicas", available}, {"updateRevision", revision},
                      {"currentRevision", updated == count ? revision : api::stringAt(*sts, "status.currentRevision")}};
  if (!sameStatus(api::valueAt(*sts, "status"), status)) {
    auto r = client_.patch(*api::findByKind("apps/v1", "StatefulSet"), ns, name, client::PatchType::Merge,
                             json::object{{"status", status}}, "status");
    if (!r && r.error().code != 404) return r.error();
  }
  if (count != replicas || ready != replicas || updated != count) return Requeue::in(std::chrono::milliseconds(500));
  return Requeue::done();
}

}  // namespace skiff::controller
