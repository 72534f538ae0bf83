#include "gitops/sync_plan.h"

#include <algorithm>
#include <charconv>

#include <boost/json.hpp>

#include "api/object.h"
#include "gitops/application.h"
#include "helm/chart.h"

namespace skiff::gitops {
namespace json = boost::json;
namespace {

int64_t intAt(const json::value& v, std::string_view path, int64_t fallback = 0) {
  const json::value* x = api::valueAt(v, path);
  return x && x->is_int64() ? x->get_int64() : fallback;
}

const json::value* conditionOf(const json::value& live, std::string_view type) {
  if (const json::value* cs = api::valueAt(live, "status.conditions"); cs && cs->is_array())
    for (const auto& c : cs->get_array())
      if (api::stringAt(c, "type") == type) return &c;
  return nullptr;
}

// Deployment, StatefulSet, DaemonSet, ReplicaSet: rolled out when the controller saw the latest
// spec and every replica is updated and available (Argo CD's checks, simplified to the fields
// skiff's controllers write).
HealthStatus workloadHealth(const json::value& live, const std::string& kind) {
  if (kind == "Deployment" && api::valueAt(live, "spec.paused") && api::valueAt(live, "spec.paused")->is_bool() &&
      api::valueAt(live, "spec.paused")->get_bool())
    return {Health::Suspended, "Deployment is paused"};
  if (intAt(live, "status.observedGeneration", -1) < intAt(live, "metadata.generation", 0))
    return {Health::Progressing, "Waiting for rollout to finish: observed generation is older than the desired one"};
  if (const json::value* p = conditionOf(live, "Progressing"); p && api::stringAt(*p, "reason") == "ProgressDeadlineExceeded")
    return {Health::Degraded, "Deployment \"" + api::stringAt(live, "metadata.name") + "\" exceeded its progress deadline"};
  if (kind == "DaemonSet") {
    int64_t want = intAt(live, "status.desiredNumberScheduled");
    if (intAt(live, "status.updatedNumberScheduled") < want)
      return {Health::Progressing, "Waiting for daemon set rollout to finish: not every pod is updated"};
    if (intAt(live, "status.numberAvailable") < want) return {Health::Progressing, "Waiting for daemon set pods to be available"};
    return {Health::Healthy, ""};
  }
  int64_t want = intAt(live, "spec.replicas", 1);
  int64_t updated = kind == "ReplicaSet" ? intAt(live, "status.replicas") : intAt(live, "status.updatedReplicas");
  int64_t replicas = intAt(live, "status.replicas");
  int64_t available = kind == "StatefulSet" ? intAt(live, "status.readyReplicas") : intAt(live, "status.availableReplicas");
  if (updated < want)
    return {Health::Progressing, "Waiting for rollout to finish: " + std::to_string(updated) + " out of " + std::to_string(want) + " new replicas have been updated..."};
  if (replicas > updated)
    return {Health::Progressing, "Waiting for rollout to finish: " + std::to_string(replicas - updated) + " old replicas are pending termination..."};
  if (available < updated)
    return {Health::Progressing, "Waiting for rollout to finish: " + std::to_string(available) + " of " + std::to_string(updated) + " updated replicas are available..."};
  return {Health::Healthy, ""};
}

HealthStatus podHealth(const json::value& live) {
  std::string phase = api::stringAt(live, "status.phase");
  if (phase == "Succeeded") return {Health::Healthy, api::stringAt(live, "status.message")};
  if (phase == "Failed") return {Health::Degraded, api::stringAt(live, "status.message")};
  if (const json::value* cs = api::valueAt(live, "status.containerStatuses"); cs && cs->is_array())
    for (const auto& c : cs->get_array())
      if (std::string reason = api::stringAt(c, "state.waiting.reason"); reason == "CrashLoopBackOff" || reason == "ImagePullBackOff" || reason == "ErrImagePull")
        return {Health::Degraded, reason + ": " + api::stringAt(c, "state.waiting.message")};
  if (phase == "Running")
    if (const json::value* ready = conditionOf(live, "Ready"); ready && api::stringAt(*ready, "status") == "True") return {Health::Healthy, ""};
  return {Health::Progressing, api::stringAt(live, "status.message")};
}

bool hasAddress(const json::value& live) {
  const json::value* ingress = api::valueAt(live, "status.loadBalancer.ingress");
  return ingress && ingress->is_array() && !ingress->get_array().empty();
}

void collectDrift(const json::value& desired, const json::value* live, const std::string& path, std::vector<Drift>& out) {
  if (desired.is_object()) {
    if (!live || !live->is_object()) {
      out.push_back({path, desired, live ? *live : json::value()});
      return;
    }
    for (const auto& kv : desired.get_object())
      collectDrift(kv.value(), live->get_object().if_contains(kv.key()), path.empty() ? std::string(kv.key()) : path + "." + std::string(kv.key()), out);
    return;
  }
  if (desired.is_array()) {
    if (!live || !live->is_array() || live->get_array().size() != desired.get_array().size()) {
      out.push_back({path, desired, live ? *live : json::value()});
      return;
    }
    for (size_t i = 0; i < desired.get_array().size(); ++i)
      collectDrift(desired.get_array()[i], &live->get_array()[i], path + "[" + std::to_string(i) + "]", out);
    return;
  }
  if (desired.is_null()) return;  // "unset" in a manifest: nothing to hold live to
  if (!live) {
    out.push_back({path, desired, nullptr});
    return;
  }
  // Numbers compare by value (1 and 1.0), everything else exactly.
  if (desired.is_number() && live->is_number()) {
    if (desired.to_number<double>() != live->to_number<double>()) out.push_back({path, desired, *live});
    return;
  }
  if (desired != *live) out.push_back({path, desired, *live});
}

}  // namespace

const char* healthName(Health h) {
  switch (h) {
    case Health::Healthy: return "Healthy";
    case Health::Suspended: return "Suspended";
    case Health::Progressing: return "Progressing";
    case Health::Missing: return "Missing";
    case Health::Degraded: return "Degraded";
    case Health::Unknown: return "Unknown";
  }
  return "Unknown";
}

Health worse(Health a, Health b) { return int(a) >= int(b) ? a : b; }

HealthStatus assessHealth(const json::value& live) {
  std::string kind = api::stringAt(live, "kind");
  if (api::valueAt(live, "metadata.deletionTimestamp")) return {Health::Progressing, "Pending deletion"};
  if (kind == "Deployment" || kind == "StatefulSet" || kind == "DaemonSet" || kind == "ReplicaSet") return workloadHealth(live, kind);
  if (kind == "Pod") return podHealth(live);
  if (kind == "Job") {
    if (const json::value* f = conditionOf(live, "Failed"); f && api::stringAt(*f, "status") == "True") return {Health::Degraded, api::stringAt(*f, "message")};
    if (const json::value* c = conditionOf(live, "Complete"); c && api::stringAt(*c, "status") == "True") return {Health::Healthy, api::stringAt(*c, "message")};
    if (const json::value* s = api::valueAt(live, "spec.suspend"); s && s->is_bool() && s->get_bool()) return {Health::Suspended, "Job is suspended"};
    return {Health::Progressing, "Job is running"};
  }
  if (kind == "PersistentVolumeClaim") {
    std::string phase = api::stringAt(live, "status.phase");
    if (phase == "Bound") return {Health::Healthy, ""};
    if (phase == "Lost") return {Health::Degraded, "the claim lost its volume"};
    return {Health::Progressing, "Waiting for the claim to be bound"};
  }
  if (kind == "Service") {
    if (api::stringAt(live, "spec.type") == "LoadBalancer" && !hasAddress(live)) return {Health::Progressing, "Waiting for a load balancer address"};
    return {Health::Healthy, ""};
  }
  if (kind == "Ingress") return hasAddress(live) ? HealthStatus{Health::Healthy, ""} : HealthStatus{Health::Progressing, "Waiting for an ingress address"};
  if (const json::value* ready = conditionOf(live, "Ready")) {
    std::string status = api::stringAt(*ready, "status");
    if (status == "True") return {Health::Healthy, api::stringAt(*ready, "message")};
    if (status == "False") return {Health::Degraded, api::stringAt(*ready, "message")};
    return {Health::Progressing, api::stringAt(*ready, "message")};
  }
  return {Health::Healthy, ""};
}

int syncWave(const json::value& object) {
  const json::value* ann = api::valueAt(object, "metadata.annotations");
  const json::value* w = ann && ann->is_object() ? ann->get_object().if_contains(kSyncWaveAnnotation) : nullptr;
  if (!w || !w->is_string()) return 0;
  std::string_view s = w->get_string();
  int wave = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), wave);
  return ec == std::errc() && end == s.data() + s.size() ? wave : 0;
}

int kindRank(const std::string& kind) {
  const auto& order = helm::installOrder();
  auto it = std::find(order.begin(), order.end(), kind);
  return int(it - order.begin());
}

std::vector<size_t> applyOrder(const std::vector<json::value>& objects) {
  std::vector<size_t> idx(objects.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
    const json::value& x = objects[a];
    const json::value& y = objects[b];
    int wx = syncWave(x), wy = syncWave(y);
    if (wx != wy) return wx < wy;
    int rx = kindRank(api::stringAt(x, "kind")), ry = kindRank(api::stringAt(y, "kind"));
    if (rx != ry) return rx < ry;
    return api::stringAt(x, "metadata.name") < api::stringAt(y, "metadata.name");
  });
  return idx;
}

std::vector<Drift> diffObjects(const json::value& desired, const json::value& live) {
  std::vector<Drift> out;
  if (!desired.is_object()) return out;
  for (const auto& kv : desired.get_object()) {
    std::string key(kv.key());
    if (key == "status") continue;
    if (key == "metadata") {
      for (const char* field : {"labels", "annotations"})
        if (const json::value* d = api::valueAt(desired, std::string("metadata.") + field))
          collectDrift(*d, api::valueAt(live, std::string("metadata.") + field), std::string("metadata.") + field, out);
      continue;
    }
    collectDrift(kv.value(), live.is_object() ? live.get_object().if_contains(key) : nullptr, key, out);
  }
  return out;
}

bool hasSyncOption(const json::value& object, const std::string& option) {
  const json::value* ann = api::valueAt(object, "metadata.annotations");
  const json::value* v = ann && ann->is_object() ? ann->get_object().if_contains(kSyncOptionsAnnotation) : nullptr;
  if (!v || !v->is_string()) return false;
  std::string_view s = v->get_string();
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    std::string_view item = s.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item == option) return true;
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return false;
}

}  // namespace skiff::gitops
