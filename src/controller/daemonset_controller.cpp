#include "controller/daemonset_controller.h"

#include <boost/json.hpp>

#include "api/object.h"
#include "controller/workload.h"
#include "scheduler/scheduler.h"

namespace skiff::controller {
namespace json = boost::json;

namespace {
constexpr const char* kRevisionHashLabel = "controller-revision-hash";

// What a DaemonSet pod tolerates on top of its template, as Kubernetes adds.
json::array daemonTolerations() {
  json::array t;
  for (const char* key : {"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"})
    t.push_back(json::object{{"key", key}, {"operator", "Exists"}, {"effect", "NoExecute"}});
  for (const char* key : {"node.kubernetes.io/disk-pressure", "node.kubernetes.io/memory-pressure", "node.kubernetes.io/pid-pressure",
                          "node.kubernetes.io/unschedulable"})
    t.push_back(json::object{{"key", key}, {"operator", "Exists"}, {"effect", "NoSchedule"}});
  return t;
}

bool shouldRun(const json::value& podSpec, const json::value& node) {
  const json::value* labels = api::valueAt(node, "metadata.labels");
  std::string nodeName = api::stringAt(node, "metadata.name");
  if (const json::value* sel = api::valueAt(podSpec, "nodeSelector"); sel && sel->is_object())
    for (const auto& kv : sel->get_object()) {
      const json::value* have = labels && labels->is_object() ? labels->get_object().if_contains(kv.key()) : nullptr;
      if (!have || *have != kv.value()) return false;
    }
  const json::value* terms = api::valueAt(podSpec, "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms");
  if (terms && terms->is_array() && !terms->get_array().empty()) {
    bool any = false;
    for (const auto& t : terms->get_array()) any = any || scheduler::matchesNodeSelectorTerm(t, labels, nodeName);
    if (!any) return false;
  }
  json::value tolerations = api::valueAt(podSpec, "tolerations") ? *api::valueAt(podSpec, "tolerations") : json::value(json::array());
  for (auto& t : daemonTolerations()) tolerations.get_array().push_back(t);
  if (const json::value* taints = api::valueAt(node, "spec.taints"); taints && taints->is_array())
    for (const auto& t : taints->get_array()) {
      std::string effect = api::stringAt(t, "effect");
      if ((effect == "NoSchedule" || effect == "NoExecute") && !scheduler::toleratedBy(&tolerations, t)) return false;
    }
  return true;
}
}  // namespace

DaemonSetController::DaemonSetController(client::Client& client, client::Informer& daemonSets, client::Informer& pods, client::Informer& nodes,
                                         client::EventRecorder* events)
    : client_(client), daemonSets_(daemonSets), pods_(pods), nodes_(nodes), events_(events),
      loop_("daemonset-controller", [this](const std::string& key) { return reconcile(key); }) {
  daemonSets_.addHandler([this](const std::string&, const client::ObjectPtr& d, const client::ObjectPtr&) { loop_.queue().add(client::keyOf(*d)); });
  pods_.addHandler([this](const std::string&, const client::ObjectPtr& pod, const client::ObjectPtr&) {
    if (std::string owner = controllerKey(*pod, "DaemonSet"); !owner.empty()) loop_.queue().add(owner);
  });
  nodes_.addHandler([this](const std::string&, const client::ObjectPtr&, const client::ObjectPtr&) {
    for (const auto& d : daemonSets_.list()) loop_.queue().add(client::keyOf(*d));
  });
}

Result<Requeue> DaemonSetController::reconcile(const std::string& key) {
  auto [ns, name] = client::splitKey(key);
  client::ObjectPtr ds = daemonSets_.get(ns, name);
  if (!ds || api::valueAt(*ds, "metadata.deletionTimestamp")) return Requeue::done();
  const api::ResourceType& podType = *api::findByKind("v1", "Pod");
  std::string uid = api::stringAt(*ds, "metadata.uid");
  const json::value* templ = api::valueAt(*ds, "spec.template");
  json::value podSpec = templ && api::valueAt(*templ, "spec") ? *api::valueAt(*templ, "spec") : json::value(json::object());
  std::string hash = templateHash(templ ? *templ : json::value());
  std::map<std::string, std::vector<client::ObjectPtr>> byNode;
  std::vector<client::ObjectPtr> unplaced;
  for (const auto& pod : pods_.listByOwner(uid)) {
    const json::value* ref = controllerRef(*pod);
    if (!ref || api::stringAt(*ref, "uid") != uid || !isPodActive(*pod)) continue;
    // A pod's node is where it is bound, or where its affinity pins it while pending.
    std::string node = api::stringAt(*pod, "spec.nodeName");
    if (node.empty()) {
      const json::value* v = api::valueAt(*pod, "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms");
      if (v && v->is_array() && !v->get_array().empty())
        if (const json::value* vals = api::valueAt(v->get_array()[0], "matchFields"); vals && vals->is_array() && !vals->get_array().empty())
          if (const json::value* names = api::valueAt(vals->get_array()[0], "values"); names && names->is_array() && !names->get_array().empty())
            node = std::string(names->get_array()[0].as_string());
    }
    byNode[node].push_back(pod);
  }
  int64_t desired = 0, scheduled = 0, ready = 0, available = 0, updated = 0, misscheduled = 0, unavailable = 0;
  int64_t minReady = intAt(*ds, "spec.minReadySeconds", 0), now = nowSeconds();
  std::vector<client::ObjectPtr> oldPods;
  for (const auto& node : nodes_.list()) {
    std::string nodeName = api::stringAt(*node, "metadata.name");
    bool run = shouldRun(podSpec, *node);
    auto& pods = byNode[nodeName];
    if (!run) {
      misscheduled += int64_t(pods.size());
      for (const auto& p : pods) {
        auto r = client_.remove(podType, ns, api::stringAt(*p, "metadata.name"));
        if (!r && r.error().code != 404) return r.error();
      }
      continue;
    }
    ++desired;
    if (pods.empty()) {
      json::value spec = podSpec;
      auto& so = spec.get_object();
      json::value& tols = so["tolerations"];
      if (!tols.is_array()) tols = json::array();
      for (auto& t : daemonTolerations()) tols.get_array().push_back(t);
      api::ensurePath(spec, "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution") = json::object{
          {"nodeSelectorTerms", json::array{json::object{{"matchFields", json::array{json::object{
                                    {"key", "metadata.name"}, {"operator", "In"}, {"values", json::array{json::string(nodeName)}}}}}}}}};
      json::object labels = templ && api::valueAt(*templ, "metadata.labels") && api::valueAt(*templ, "metadata.labels")->is_object()
                                ? api::valueAt(*templ, "metadata.labels")->get_object()
                                : json::object();
      labels[kRevisionHashLabel] = hash;
      json::value pod = json::object{{"apiVersion", "v1"}, {"kind", "Pod"},
                                     {"metadata", json::object{{"generateName", name + "-"}, {"namespace", ns}, {"labels", labels},
                                                               {"ownerReferences", json::array{makeControllerRef(*ds)}}}},
                                     {"spec", spec}};
      auto created = client_.create(podType, ns, pod);
      if (!created) return created.error();
      if (events_) events_->normal(*ds, "SuccessfulCreate", "Created pod: " + api::stringAt(*created, "metadata.name"));
      ++unavailable;
      continue;
    }
    ++scheduled;
    for (size_t i = 1; i < pods.size(); ++i) {  // one per node
      auto r = client_.remove(podType, ns, api::stringAt(*pods[i], "metadata.name"));
      if (!r && r.error().code != 404) return r.error();
    }
    const client::ObjectPtr& p = pods[0];
    bool current = api::stringAt(*p, std::string("metadata.labels.") + kRevisionHashLabel) == hash;
    if (current) ++updated;
    else oldPods.push_back(p);
    if (isPodReady(*p)) ++ready;
    if (isPodAvailable(*p, minReady, now)) ++available;
    else ++unavailable;
  }
  // Rolling update: replace old pods while no more than maxUnavailable are down.
  if (api::stringAt(*ds, "spec.updateStrategy.type") != "OnDelete") {
    int64_t maxUnavailable = resolveIntOrPercent(api::valueAt(*ds, "spec.updateStrategy.rollingUpdate.maxUnavailable"), desired, false, 1);
    if (maxUnavailable < 1) maxUnavailable = 1;
    for (const auto& p : oldPods) {
      if (unavailable >= maxUnavailable) break;
      auto r = client_.remove(podType, ns, api::stringAt(*p, "metadata.name"));
      if (!r && r.error().code != 404) return r.error();
      ++unavailable;
    }
  }
  json::object status{{"desiredNumberScheduled", desired}, {"currentNumberScheduled", scheduled}, {"numberReady", ready},
                      {"numberAvailable", available}, {"numberUnavailable", std::max<int64_t>(0, desired - available)},
                      {"updatedNumberScheduled", updated}, {"numberMisscheduled", misscheduled},
                      {"observedGeneration", intAt(*ds, "metadata.generation", 1)}};
  if (!sameStatus(api::valueAt(*ds, "status"), status)) {
    auto r = client_.patch(*api::findByKind("apps/v1", "DaemonSet"), ns, name, client::PatchType::Merge,
                             json::object{{"status", status}}, "status");
    if (!r && r.error().code != 404) return r.error();
  }
  if (!oldPods.empty() || available < desired) return Requeue::in(std::chrono::milliseconds(1000));
  return Requeue::done();
}

}  // namespace skiff::controller
