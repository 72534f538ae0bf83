#include "controller/replicaset_controller.h"

#include <boost/json.hpp>

#include "api/object.h"
#include "controller/workload.h"

namespace skiff::controller {
namespace json = boost::json;

ReplicaSetController::ReplicaSetController(client::Client& client, client::Informer& replicaSets, client::Informer& pods,
                                           client::EventRecorder* events)
    : client_(client), replicaSets_(replicaSets), pods_(pods), events_(events),
      loop_("replicaset-controller", [this](const std::string& key) { return reconcile(key); }) {
  replicaSets_.addHandler([this](const std::string&, const client::ObjectPtr& rs, const client::ObjectPtr&) { loop_.queue().add(client::keyOf(*rs)); });
  pods_.addHandler([this](const std::string&, const client::ObjectPtr& pod, const client::ObjectPtr&) {
    if (std::string owner = controllerKey(*pod, "ReplicaSet"); !owner.empty()) loop_.queue().add(owner);
  });
}

namespace {
// Deletion preference, as Kubernetes ranks pods: unassigned, then pending, then not ready, then newest.
int rank(const json::value& pod) {
  if (api::stringAt(pod, "spec.nodeName").empty()) return 0;
  if (api::stringAt(pod, "status.phase") == "Pending") return 1;
  if (!isPodReady(pod)) return 2;
  return 3;
}
}  // namespace

Result<Requeue> ReplicaSetController::reconcile(const std::string& key) {
  auto [ns, name] = client::splitKey(key);
  client::ObjectPtr rs = replicaSets_.get(ns, name);
  if (!rs || api::valueAt(*rs, "metadata.deletionTimestamp")) return Requeue::done();
  const api::ResourceType& podType = *api::findByKind("v1", "Pod");
  std::string uid = api::stringAt(*rs, "metadata.uid");
  auto selector = api::LabelSelector::fromObject(api::valueAt(*rs, "spec.selector") ? *api::valueAt(*rs, "spec.selector") : json::value());
  if (!selector || selector->empty()) return Requeue::done();  // validation forbids it; nothing safe to do
  std::vector<client::ObjectPtr> owned;
  for (const auto& pod : pods_.listByOwner(uid)) {
    const json::value* ref = controllerRef(*pod);
    if (ref && api::stringAt(*ref, "uid") == uid) owned.push_back(pod);
  }
  for (const auto& pod : pods_.list(ns, &*selector)) {
    const json::value* ref = controllerRef(*pod);
    if (!ref && isPodActive(*pod)) {
      // Adopt a matching orphan instead of starting a duplicate.
      json::value refs = json::array{makeControllerRef(*rs)};
      if (const json::value* existing = api::valueAt(*pod, "metadata.ownerReferences"); existing && existing->is_array())
        for (const auto& r : existing->get_array()) refs.get_array().push_back(r);
      auto adopted = client_.patch(podType, ns, api::stringAt(*pod, "metadata.name"), client::PatchType::Merge,
                                     json::object{{"metadata", json::object{{"ownerReferences", refs}}}}, "");
      if (adopted) owned.push_back(std::make_shared<const json::value>(std::move(*adopted)));
    }
  }
  std::vector<client::ObjectPtr> active;
  for (const auto& p : owned)
    if (isPodActive(*p)) active.push_back(p);
  int64_t want = intAt(*rs, "spec.replicas", 1);
  int64_t diff = int64_t(active.size()) - want;
  if (diff < 0) {
    // Create in a batch of at most 500 per pass; the next pass creates the rest.
    int64_t toCreate = std::min<int64_t>(-diff, 500);
    const json::value* templ = api::valueAt(*rs, "spec.template");
    json::value pod = json::object{{"apiVersion", "v1"}, {"kind", "Pod"}};
    json::object meta{{"generateName", name + "-"}, {"namespace", ns}, {"ownerReferences", json::array{makeControllerRef(*rs)}}};
    if (const json::value* l = templ ? api::valueAt(*templ, "metadata.labels") : nullptr) meta["labels"] = *l;
    if (const json::value* a = templ ? api::valueAt(*templ, "metadata.annotations") : nullptr) meta["annotations"] = *a;
    pod.get_object()["metadata"] = std::move(meta);
    pod.get_object()["spec"] = templ && api::valueAt(*templ, "spec") ? *api::valueAt(*templ, "spec") : json::object();
    for (int64_t i = 0; i < toCreate; ++i) {
      auto created = client_.create(podType, ns, pod);
      if (!created) {
        if (events_) events_->warning(*rs, "FailedCreate", "Error creating: " + created.error().message);
        return Error{created.error().code, created.error().reason, "creating pod: " + created.error().message, {}};
      }
      if (events_) events_->normal(*rs, "SuccessfulCreate", "Created pod: " + api::stringAt(*created, "metadata.name"));
    }
    if (toCreate < -diff) return Requeue::in(std::chrono::milliseconds(1));
  } else if (diff > 0) {
    std::stable_sort(active.begin(), active.end(), [](const client::ObjectPtr& a, const client::ObjectPtr& b) {
      int ra = rank(*a), rb = rank(*b);
      if (ra != rb) return ra < rb;
      return api::stringAt(*a, "metadata.creationTimestamp") > api::stringAt(*b, "metadata.creationTimestamp");
    });
    for (int64_t i = 0; i < diff; ++i) {
      auto removed = client_.remove(podType, ns, api::stringAt(*active[size_t(i)], "metadata.name"));
      if (!removed && removed.error().code != 404) return removed.error();
      if (events_) events_->normal(*rs, "SuccessfulDelete", "Deleted pod: " + api::stringAt(*active[size_t(i)], "metadata.name"));
    }
  }
  // Status from what the cache shows now (our own writes are already in it).
  int64_t minReady = intAt(*rs, "spec.minReadySeconds", 0);
  int64_t now = nowSeconds();
  int64_t replicas = 0, ready = 0, available = 0, labeled = 0, terminating = 0;
  bool waitingForAvailable = false;
  for (const auto& pod : pods_.listByOwner(uid)) {
    const json::value* ref = controllerRef(*pod);
    if (!ref || api::stringAt(*ref, "uid") != uid) continue;
    if (api::valueAt(*pod, "metadata.deletionTimestamp")) {
      ++terminating;
      continue;
    }
    if (!isPodActive(*pod)) continue;
    ++replicas;
    ++labeled;
    if (isPodReady(*pod)) {
      ++ready;
      if (isPodAvailable(*pod, minReady, now)) ++available;
      else waitingForAvailable = true;
    }
  }
  json::object status{{"replicas", replicas}, {"fullyLabeledReplicas", labeled}, {"readyReplicas", ready},
                      {"availableReplicas", available}, {"terminatingReplicas", terminating},
                      {"observedGeneration", intAt(*rs, "metadata.generation", 1)}};
  const json::value* current = api::valueAt(*rs, "status");
  bool same = current && current->is_object();
  if (same)
    for (const auto& kv : status) same = same && current->get_object().if_contains(kv.key()) && current->get_object().at(kv.key()) == kv.value();
  if (!same) {
    auto r = client_.patch(*api::findByKind("apps/v1", "ReplicaSet"), ns, name, client::PatchType::Merge,
                             json::object{{"status", status}}, "status");
    if (!r && r.error().code != 404) return r.error();
  }
  if (waitingForAvailable) return Requeue::in(std::chrono::milliseconds(1000));
  return Requeue::done();
}

}  // namespace skiff::controller
