#include "controller/hpa_controller.h"

#include <boost/json.hpp>
#include <cmath>

#include "api/object.h"
#include "api/quantity.h"
#include "controller/workload.h"

namespace skiff::controller {
namespace json = boost::json;

PodUsageSource usageFromNodes(apiserver::NodeClient& nodes) {
  return [&nodes] {
    std::map<std::string, PodUsage> out;
    for (const auto& node : nodes.usage())
      for (const auto& pod : node.pods) {
        PodUsage& u = out[pod.ns + "/" + pod.name];
        u.cpuCores += pod.cpuCores;
        u.memoryBytes += pod.memoryWorkingSet;
        u.hasResources = true;
      }
    for (const auto& [pod, rate] : nodes.requests().podRequestRates) out[pod].requestsPerSecond = rate;
    return out;
  };
}

HpaController::HpaController(client::Client& client, client::Informer& hpas, client::Informer& pods, PodUsageSource usage, client::EventRecorder* events)
    : client_(client), hpas_(hpas), pods_(pods), usage_(std::move(usage)), events_(events),
      loop_("hpa-controller", [this](const std::string& key) { return reconcile(key); }) {
  hpas_.addHandler([this](const std::string&, const client::ObjectPtr& h, const client::ObjectPtr&) { loop_.queue().add(client::keyOf(*h)); });
}

Result<Requeue> HpaController::reconcile(const std::string& key) {
  auto [ns, name] = client::splitKey(key);
  client::ObjectPtr hpa = hpas_.get(ns, name);
  if (!hpa || api::valueAt(*hpa, "metadata.deletionTimestamp")) return Requeue::done();
  const auto every = std::chrono::milliseconds(5000);
  std::string kind = api::stringAt(*hpa, "spec.scaleTargetRef.kind"), target = api::stringAt(*hpa, "spec.scaleTargetRef.name");
  const api::ResourceType* targetType = nullptr;
  for (const auto& t : api::builtinResources())
    if (t.kind == kind && t.hasScale) targetType = &t;
  std::string now = api::rfc3339Now();
  auto condition = [&](const char* type, bool status, const char* reason, const std::string& message) {
    return json::object{{"type", type}, {"status", status ? "True" : "False"}, {"reason", reason}, {"message", message},
                        {"lastTransitionTime", now}};
  };
  auto writeStatus = [&](json::object status) -> Status {
    if (sameStatus(api::valueAt(*hpa, "status"), status)) return {};
    auto r = client_.patch(*api::findByKind("autoscaling/v2", "HorizontalPodAutoscaler"), ns, name, client::PatchType::Merge,
                             json::object{{"status", status}}, "status");
    if (!r && r.error().code != 404) return r.error();
    return {};
  };
  if (!targetType) {
    (void)writeStatus(json::object{{"currentReplicas", 0}, {"desiredReplicas", 0},
                                   {"conditions", json::array{condition("AbleToScale", false, "FailedGetScale", "the HPA controller cannot scale " + kind)}}});
    return Requeue::in(every);
  }
  auto obj = client_.get(*targetType, ns, target);
  if (!obj) {
    (void)writeStatus(json::object{{"currentReplicas", 0}, {"desiredReplicas", 0},
                                   {"conditions", json::array{condition("AbleToScale", false, "FailedGetScale", obj.error().message)}}});
    return Requeue::in(every);
  }
  int64_t current = intAt(*obj, "spec.replicas", 1);
  int64_t minR = intAt(*hpa, "spec.minReplicas", 1), maxR = intAt(*hpa, "spec.maxReplicas", 1);
  // Pods of the target: its selector, running and ready.
  const json::value* sel = api::valueAt(*obj, "spec.selector");
  auto selector = api::LabelSelector::fromObject(sel ? *sel : json::value());
  std::map<std::string, PodUsage> usage = usage_ ? usage_() : std::map<std::string, PodUsage>{};
  int64_t desired = current;
  json::array currentMetrics;
  std::string failure;
  if (current == 0) {
    desired = 0;  // scaled to zero by hand: autoscaling is off until scaled up again
  } else if (selector) {
    auto pods = pods_.list(ns, &*selector);
    int64_t proposal = 0;
    if (const json::value* metrics = api::valueAt(*hpa, "spec.metrics"); metrics && metrics->is_array())
      for (const auto& m : metrics->get_array()) {
        if (api::stringAt(m, "type") == "Pods") {
          // Requests per second per pod, measured by the node proxy.
          std::string name = api::stringAt(m, "pods.metric.name");
          const json::value* target = api::valueAt(m, "pods.target.averageValue");
          double targetValue = target ? double(api::quantityMilli(target)) / 1000.0 : 0;
          if (name != "http_requests_per_second") {
            failure = "unknown pods metric \"" + name + "\": skiff measures http_requests_per_second (requests per second each pod answers through the node proxy)";
            continue;
          }
          double sum = 0;
          int64_t counted = 0;
          for (const auto& pod : pods) {
            if (!isPodActive(*pod) || !isPodReady(*pod)) continue;
            auto it = usage.find(client::keyOf(*pod));
            if (it == usage.end() || it->second.requestsPerSecond < 0) continue;
            sum += it->second.requestsPerSecond;
            ++counted;
          }
          if (counted == 0 || targetValue <= 0) {
            failure = "did not receive http_requests_per_second for the targeted pods (are they behind a Service, and is the target averageValue set?)";
            continue;
          }
          double average = sum / double(counted);
          double ratio = average / targetValue;
          int64_t p = std::fabs(ratio - 1.0) <= 0.1 ? current : int64_t(std::ceil(ratio * double(counted)));
          proposal = std::max(proposal, p);
          currentMetrics.push_back(json::object{
              {"type", "Pods"},
              {"pods", json::object{{"metric", json::object{{"name", name}}},
                                    {"current", json::object{{"averageValue", std::to_string(std::llround(average * 1000)) + "m"}}}}}});
          continue;
        }
        std::string res = api::stringAt(m, "resource.name");
        int64_t targetUtil = intAt(m, "resource.target.averageUtilization", 0);
        double usedSum = 0, requestedSum = 0;
        int64_t counted = 0;
        for (const auto& pod : pods) {
          if (!isPodActive(*pod) || !isPodReady(*pod)) continue;
          auto it = usage.find(client::keyOf(*pod));
          if (it == usage.end() || !it->second.hasResources) continue;
          double requested = 0;
          if (const json::value* cs = api::valueAt(*pod, "spec.containers"); cs && cs->is_array())
            for (const auto& c : cs->get_array()) {
              const json::value* r = api::valueAt(c, (std::string("resources.requests.") + res).c_str());
              requested += res == "cpu" ? double(api::quantityMilli(r)) / 1000.0 : double(api::quantityMilli(r)) / 1000.0;
            }
          if (requested <= 0) continue;
          usedSum += res == "cpu" ? it->second.cpuCores : double(it->second.memoryBytes);
          requestedSum += requested;
          ++counted;
        }
        if (counted == 0 || requestedSum <= 0 || targetUtil <= 0) {
          failure = "did not receive metrics for targeted pods (pods might be unready, have no " + res + " request, or run on nodes without metrics)";
          continue;
        }
        int64_t utilization = int64_t(std::llround(usedSum / requestedSum * 100));
        double ratio = double(utilization) / double(targetUtil);
        int64_t p = std::fabs(ratio - 1.0) <= 0.1 ? current : int64_t(std::ceil(ratio * double(counted)));
        proposal = std::max(proposal, p);
        currentMetrics.push_back(json::object{
            {"type", "Resource"},
            {"resource", json::object{{"name", res}, {"current", json::object{{"averageUtilization", utilization}}}}}});
      }
    if (proposal > 0) desired = proposal;
  }
  // Stabilization: scale up to the lowest and down to the highest recommendation in the window.
  int64_t upWindow = intAt(*hpa, "spec.behavior.scaleUp.stabilizationWindowSeconds", 0);
  int64_t downWindow = intAt(*hpa, "spec.behavior.scaleDown.stabilizationWindowSeconds", 300);
  int64_t t = nowSeconds();
  int64_t stabilized = desired;
  {
    std::lock_guard lock(historyMutex_);
    auto& history = recommendations_[key];
    history.emplace_back(t, desired);
    while (!history.empty() && history.front().first < t - std::max(upWindow, downWindow)) history.pop_front();
    int64_t upMin = desired, downMax = desired;
    for (const auto& [when, r] : history) {
      if (when >= t - upWindow) upMin = std::min(upMin, r);
      if (when >= t - downWindow) downMax = std::max(downMax, r);
    }
    if (desired > current) stabilized = std::max(current, upMin);
    else if (desired < current) stabilized = std::min(current, downMax);
  }
  // Scale-up policy: at most double, or +4 pods, per evaluation.
  if (stabilized > current) stabilized = std::min(stabilized, std::max(current * 2, current + 4));
  bool limited = false;
  int64_t finalReplicas = stabilized;
  if (current > 0) {
    if (finalReplicas > maxR) finalReplicas = maxR, limited = true;
    if (finalReplicas < minR) finalReplicas = minR, limited = true;
  }
  std::string lastScale = api::stringAt(*hpa, "status.lastScaleTime");
  if (finalReplicas != current) {
    auto r = client_.patch(*targetType, ns, target, client::PatchType::Merge,
                             json::object{{"spec", json::object{{"replicas", finalReplicas}}}}, "");
    if (!r) return r.error();
    lastScale = now;
    if (events_)
      events_->normal(*hpa, "SuccessfulRescale", "New size: " + std::to_string(finalReplicas) + "; reason: " +
                                                     (currentMetrics.empty() ? std::string("replica bounds") : "metrics above/below target"));
  }
  json::array conditions{condition("AbleToScale", true, "SucceededGetScale", "the HPA controller was able to get the target's current scale"),
                         failure.empty() ? condition("ScalingActive", true, "ValidMetricFound", "the HPA was able to successfully calculate a replica count")
                                         : condition("ScalingActive", false, "FailedGetResourceMetric", failure),
                         condition("ScalingLimited", limited, limited ? "TooManyReplicas" : "DesiredWithinRange",
                                   limited ? "the desired replica count is outside the allowed range" : "the desired count is within the acceptable range")};
  json::object status{{"currentReplicas", current}, {"desiredReplicas", finalReplicas}, {"currentMetrics", currentMetrics},
                      {"conditions", conditions}};
  if (!lastScale.empty()) status["lastScaleTime"] = lastScale;
  if (Status s = writeStatus(status); !s) return s.error();
  return Requeue::in(every);
}

}  // namespace skiff::controller
