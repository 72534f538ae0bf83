#include "controller/pod_gc_controller.h"

#include <algorithm>
#include <set>

#include <boost/json.hpp>

#include "api/object.h"
#include "common/log.h"

namespace skiff::controller {
namespace json = boost::json;

namespace {
constexpr const char* kOutOfService = "node.kubernetes.io/out-of-service";

bool terminated(const json::value& pod) {
  std::string phase = api::stringAt(pod, "status.phase");
  return phase == "Succeeded" || phase == "Failed";
}

bool hasTaint(const json::value& node, const char* key) {
  const json::value* taints = api::valueAt(node, "spec.taints");
  if (!taints || !taints->is_array()) return false;
  return std::any_of(taints->get_array().begin(), taints->get_array().end(),
                     [&](const json::value& t) { return api::stringAt(t, "key") == key; });
}

bool ready(const json::value& node) {
  const json::value* conds = api::valueAt(node, "status.conditions");
  if (!conds || !conds->is_array()) return false;
  for (const auto& c : conds->get_array())
    if (api::stringAt(c, "type") == "Ready") return api::stringAt(c, "status") == "True";
  return false;
}
}  // namespace

PodGcController::PodGcController(client::Client& client, client::Informer& nodes, client::Informer& pods, PodGcOptions options,
                                 client::EventRecorder* events)
    : client_(client), nodes_(nodes), pods_(pods), options_(options), events_(events) {
  pods_.addHandler([this](const std::string& type, const client::ObjectPtr& pod, const client::ObjectPtr&) {
    std::string key = client::keyOf(*pod);
    std::lock_guard lock(terminatedMutex_);
    if (type != "DELETED" && terminated(*pod) && !api::valueAt(*pod, "metadata.deletionTimestamp"))
      terminated_[key] = api::stringAt(*pod, "metadata.creationTimestamp");
    else
      terminated_.erase(key);
  });
}

void PodGcController::start() {
  thread_ = std::thread([this] {
    while (!stopping_) {
      for (auto slept = std::chrono::milliseconds(0); slept < options_.interval && !stopping_; slept += std::chrono::milliseconds(100))
        std::this_thread::sleep_for(std::min(options_.interval, std::chrono::milliseconds(100)));
      if (stopping_) break;
      try {
        tick();
      } catch (const std::exception& e) {
        log::error("pod-gc", e.what());
      }
    }
  });
}

void PodGcController::stop() {
  if (stopping_.exchange(true)) return;
  if (thread_.joinable()) thread_.join();
}

void PodGcController::tick() {
  collectOrphans();
  collectOutOfService();
  collectTerminated();
}

void PodGcController::forceDelete(const json::value& pod, const std::string& why) {
  const api::ResourceType& podType = *api::findByKind("v1", "Pod");
  std::string ns = api::stringAt(pod, "metadata.namespace"), name = api::stringAt(pod, "metadata.name");
  if (!terminated(pod)) {
    std::string now = api::rfc3339Now();
    json::object status{{"phase", "Failed"},
                        {"conditions", json::array{json::object{{"type", "DisruptionTarget"}, {"status", "True"},
                                                                {"reason", "DeletionByPodGC"}, {"message", why},
                                                                {"lastTransitionTime", now}}}}};
    auto marked = client_.patch(podType, ns, name, client::PatchType::Strategic, json::object{{"status", status}}, "status");
    if (!marked && marked.error().code != 404) log::warn("pod-gc", "marking " + ns + "/" + name + " failed: " + marked.error().message);
  }
  api::DeleteOptions options;
  options.gracePeriodSeconds = 0;
  options.preconditionUid = api::stringAt(pod, "metadata.uid");
  auto removed = client_.remove(podType, ns, name, options);
  if (!removed) {
    if (removed.error().code != 404 && removed.error().code != 409)
      log::warn("pod-gc", "deleting " + ns + "/" + name + " failed: " + removed.error().message);
    return;
  }
  log::info("pod-gc", "deleted " + ns + "/" + name + ": " + why);
  if (events_) events_->normal(pod, "PodGC", why);
}

void PodGcController::collectOrphans() {
  std::map<std::string, std::vector<client::ObjectPtr>> orphans;  // missing node -> its pods
  for (const auto& node : pods_.nodesWithPods())
    if (!nodes_.get("", node)) orphans[node] = pods_.listByNode(node);
  auto now = std::chrono::steady_clock::now();
  std::erase_if(missingSince_, [&](const auto& e) { return !orphans.count(e.first); });
  const api::ResourceType& nodeType = *api::findByKind("v1", "Node");
  for (const auto& [node, pods] : orphans) {
    auto [since, fresh] = missingSince_.try_emplace(node, now);
    if (now - since->second < options_.quarantine) continue;
    // The informer may lag; only the server's answer condemns the pods.
    auto got = client_.get(nodeType, "", node);
    if (got || got.error().code != 404) continue;
    for (const auto& pod : pods) forceDelete(*pod, "PodGC: node " + node + " no longer exists");
  }
}

void PodGcController::collectOutOfService() {
  for (const auto& node : nodes_.list()) {
    if (!hasTaint(*node, kOutOfService) || ready(*node)) continue;
    for (const auto& pod : pods_.listByNode(api::stringAt(*node, "metadata.name")))
      if (api::valueAt(*pod, "metadata.deletionTimestamp"))
        forceDelete(*pod, "PodGC: node " + api::stringAt(*node, "metadata.name") + " is out of service");
  }
}

void PodGcController::collectTerminated() {
  std::vector<std::pair<std::string, std::string>> oldest;  // (creationTimestamp, key)
  {
    std::lock_guard lock(terminatedMutex_);
    if (terminated_.size() <= options_.terminatedPodThreshold) return;
    for (const auto& [key, created] : terminated_) oldest.emplace_back(created, key);
  }
  size_t excess = oldest.size() - std::min(oldest.size(), options_.terminatedPodThreshold);
  // Oldest first, as Kubernetes orders them (creation time, then name).
  std::partial_sort(oldest.begin(), oldest.begin() + static_cast<std::ptrdiff_t>(excess), oldest.end());
  for (size_t i = 0; i < excess; ++i) {
    auto [ns, name] = client::splitKey(oldest[i].second);
    if (client::ObjectPtr pod = pods_.get(ns, name))
      forceDelete(*pod, "PodGC: more than " + std::to_string(options_.terminatedPodThreshold) + " terminated pods");
  }
}

}  // namespace skiff::controller
