#include "api/conversion.h"

#include <boost/json.hpp>

#include "api/object.h"

namespace skiff::api {
namespace json = boost::json;

namespace {

// What autoscaling/v1 cannot say is kept in annotations, so a v2 object read and written back
// through v1 (kubectl edit, an old client) keeps its metrics, behavior and conditions. Kubernetes
// keeps conditions under the same annotation name; the other two are skiff's.
constexpr const char* kMetricsAnnotation = "skiff.dev/autoscaling-v2-metrics";
constexpr const char* kBehaviorAnnotation = "skiff.dev/autoscaling-v2-behavior";
constexpr const char* kConditionsAnnotation = "autoscaling.alpha.kubernetes.io/conditions";

bool isCpuUtilization(const json::value& metric) {
  return stringAt(metric, "type") == "Resource" && stringAt(metric, "resource.name") == "cpu" &&
         stringAt(metric, "resource.target.type") == "Utilization";
}

json::value hpaToV2(json::value object) {
  json::object& o = object.as_object();
  o["apiVersion"] = "autoscaling/v2";
  json::object* annotations = nullptr;
  if (auto* meta = o.if_contains("metadata"); meta && meta->is_object())
    if (auto* a = meta->as_object().if_contains("annotations"); a && a->is_object()) annotations = &a->as_object();
  json::array metrics;
  json::value behavior;
  if (annotations) {
    if (auto* m = annotations->if_contains(kMetricsAnnotation); m && m->is_string()) {
      boost::system::error_code ec;
      json::value parsed = json::parse(m->as_string(), ec);
      if (!ec && parsed.is_array())
        for (auto& metric : parsed.as_array())
          if (!isCpuUtilization(metric)) metrics.push_back(metric);
    }
    if (auto* b = annotations->if_contains(kBehaviorAnnotation); b && b->is_string()) {
      boost::system::error_code ec;
      behavior = json::parse(b->as_string(), ec);
      if (ec) behavior = nullptr;
    }
    annotations->erase(kMetricsAnnotation);
    annotations->erase(kBehaviorAnnotation);
    annotations->erase(kConditionsAnnotation);
  }
  json::value* spec = o.if_contains("spec");
  if (spec && spec->is_object()) {
    json::object& s = spec->as_object();
    if (auto* cpu = s.if_contains("targetCPUUtilizationPercentage"); cpu && cpu->is_int64()) {
      metrics.insert(metrics.begin(),
                     json::object{{"type", "Resource"},
                                  {"resource", json::object{{"name", "cpu"},
                                                            {"target", json::object{{"type", "Utilization"},
                                                                                    {"averageUtilization", cpu->as_int64()}}}}}});
    }
    s.erase("targetCPUUtilizationPercentage");
    if (!metrics.empty()) s["metrics"] = std::move(metrics);
    if (!behavior.is_null()) s["behavior"] = std::move(behavior);
  }
  o.erase("status");  // v1 status writes are not served; the controller owns the v2 status
  return object;
}

json::value hpaToV1(json::value object) {
  json::object& o = object.as_object();
  o["apiVersion"] = "autoscaling/v1";
  json::object kept;  // annotations for what v1 has no field for
  if (auto* spec = o.if_contains("spec"); spec && spec->is_object()) {
    json::object& s = spec->as_object();
    json::array rest;
    if (auto* metrics = s.if_contains("metrics"); metrics && metrics->is_array()) {
      for (const auto& metric : metrics->as_array()) {
        if (isCpuUtilization(metric) && !s.contains("targetCPUUtilizationPercentage")) {
          if (const json::value* u = valueAt(metric, "resource.target.averageUtilization"); u && u->is_int64())
            s["targetCPUUtilizationPercentage"] = u->as_int64();
        } else {
          rest.push_back(metric);
        }
      }
    }
    s.erase("metrics");
    if (!rest.empty()) kept[kMetricsAnnotation] = json::serialize(rest);
    if (auto* b = s.if_contains("behavior"); b && !b->is_null()) kept[kBehaviorAnnotation] = json::serialize(*b);
    s.erase("behavior");
  }
  if (auto* status = o.if_contains("status"); status && status->is_object()) {
    json::object& st = status->as_object();
    json::object v1;
    for (const char* field : {"observedGeneration", "lastScaleTime", "currentReplicas", "desiredReplicas"})
      if (auto* v = st.if_contains(field)) v1[field] = *v;
    if (auto* current = st.if_contains("currentMetrics"); current && current->is_array())
      for (const auto& m : current->as_array())
        if (stringAt(m, "type") == "Resource" && stringAt(m, "resource.name") == "cpu")
          if (const json::value* u = valueAt(m, "resource.current.averageUtilization"); u && u->is_int64())
            v1["currentCPUUtilizationPercentage"] = u->as_int64();
    if (auto* c = st.if_contains("conditions"); c && c->is_array() && !c->as_array().empty())
      kept[kConditionsAnnotation] = json::serialize(*c);
    *status = std::move(v1);
  }
  if (!kept.empty()) {
    json::value& a = ensurePath(object, "metadata.annotations");
    if (!a.is_object()) a = json::object();
    for (auto& [k, v] : kept) a.as_object()[k] = std::move(v);
  }
  return object;
}

// events.k8s.io/v1 Event and core/v1 Event are one object under two sets of names, as in
// Kubernetes: {events.k8s.io name, core name}.
constexpr std::pair<const char*, const char*> kEventFields[] = {
    {"regarding", "involvedObject"},        {"note", "message"},
    {"reportingController", "reportingComponent"}, {"deprecatedSource", "source"},
    {"deprecatedFirstTimestamp", "firstTimestamp"}, {"deprecatedLastTimestamp", "lastTimestamp"},
    {"deprecatedCount", "count"}};

json::value renameFields(json::value object, bool toCore) {
  json::object& o = object.as_object();
  for (const auto& [modern, core] : kEventFields) {
    std::string_view from = toCore ? modern : core, to = toCore ? core : modern;
    if (json::value* v = o.if_contains(from)) {
      json::value moved = std::move(*v);
      o.erase(from);
      o[to] = std::move(moved);
    }
  }
  o["apiVersion"] = toCore ? "v1" : "events.k8s.io/v1";
  return object;
}

bool isEventsV1(const ResourceType& t) { return !t.custom && t.group == "events.k8s.io" && t.kind == "Event"; }

}  // namespace

const ResourceType* storedVersionOf(const ResourceType& served) {
  if (isEventsV1(served)) return findByKind("v1", "Event");
  if (served.custom) return served.custom->storedAs;  // conversion None: only apiVersion differs
  if (served.group == "autoscaling" && served.version == "v1") return findByKind("autoscaling/v2", served.kind);
  if (served.group == "gateway.networking.k8s.io" && served.version == "v1alpha2" && served.kind == "TLSRoute")
    return findByKind("gateway.networking.k8s.io/v1", served.kind);
  return nullptr;
}

// TLSRoute v1alpha2 and v1 have the same fields: only the apiVersion changes.
json::value convertToStored(const ResourceType& served, json::value object) {
  const ResourceType* stored = object.is_object() ? storedVersionOf(served) : nullptr;
  if (!stored) return object;
  if (isEventsV1(served)) return renameFields(std::move(object), true);
  if (served.custom || served.kind == "TLSRoute") {
    object.as_object()["apiVersion"] = stored->group + "/" + stored->version;
    return object;
  }
  return hpaToV2(std::move(object));
}

json::value convertFromStored(const ResourceType& served, json::value object) {
  if (!object.is_object() || !storedVersionOf(served)) return object;
  if (isEventsV1(served)) return renameFields(std::move(object), false);
  if (served.custom || served.kind == "TLSRoute") {
    object.as_object()["apiVersion"] = served.group + "/" + served.version;
    return object;
  }
  return hpaToV1(std::move(object));
}

}  // namespace skiff::api
