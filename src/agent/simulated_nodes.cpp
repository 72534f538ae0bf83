#include "agent/simulated_nodes.h"

#include <boost/json.hpp>

#include "api/object.h"
#include "common/log.h"

namespace skiff::agent {
namespace json = boost::json;

SimulatedNodes::SimulatedNodes(client::Client& client, client::Informer& pods, SimulatedNodeOptions options)
    : client_(client), pods_(pods), options_(std::move(options)),
      loop_("simulated-nodes", [this](const std::string& key) { return reconcilePod(key); }) {
  for (int i = 0; i < options_.count; ++i) names_.insert(options_.prefix + std::to_string(i));
  pods_.addHandler([this](const std::string& type, const client::ObjectPtr& pod, const client::ObjectPtr&) {
    if (type == "DELETED") return;
    if (names_.count(api::stringAt(*pod, "spec.nodeName"))) loop_.queue().add(client::keyOf(*pod));
  });
}

Status SimulatedNodes::start() {
  const api::ResourceType& nodeType = *api::findByKind("v1", "Node");
  std::string now = api::rfc3339Now();
  int i = 0;
  for (const auto& name : names_) {
    json::value node = json::object{
        {"apiVersion", "v1"},
        {"kind", "Node"},
        {"metadata", json::object{{"name", name},
                                  {"labels", json::object{{"kubernetes.io/hostname", name}, {"kubernetes.io/os", "linux"},
                                                          {"kubernetes.io/arch", "amd64"}, {"skiff.dev/simulated", "true"},
                                                          {"topology.kubernetes.io/zone", "zone-" + std::to_string(i++ % std::max(1, options_.zones))}}}}},
        {"spec", json::object()},
        {"status", json::object{
                       {"capacity", json::object{{"cpu", "8"}, {"memory", "32Gi"}, {"pods", "110"}}},
                       {"allocatable", json::object{{"cpu", "8"}, {"memory", "32Gi"}, {"pods", "110"}}},
                       {"conditions", json::array{json::object{{"type", "Ready"}, {"status", "True"}, {"reason", "KubeletReady"},
                                                               {"message", "simulated node is ready"}, {"lastHeartbeatTime", now},
                                                               {"lastTransitionTime", now}}}},
                       {"nodeInfo", json::object{{"kubeletVersion", "v1.32.0-skiff-simulated"}, {"osImage", "simulated"},
                                                 {"kernelVersion", "none"}, {"containerRuntimeVersion", "simulated://0"},
                                                 {"operatingSystem", "linux"}, {"architecture", "amd64"}}}}}};
    auto created = client_.create(nodeType, "", node);
    if (!created && created.error().reason != "AlreadyExists") return created.error();
    if (!created) {  // left from an earlier run: mark it ready again
      auto r = client_.patch(nodeType, "", name, client::PatchType::Merge,
                               json::object{{"status", node.at("status")}}, "status");
      if (!r) return r.error();
    }
  }
  renewLeases();
  loop_.start(4);
  heartbeat_ = std::thread([this] {
    auto next = std::chrono::steady_clock::now() + options_.leaseRenewInterval;
    while (!stopping_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (std::chrono::steady_clock::now() < next) continue;
      renewLeases();
      next += options_.leaseRenewInterval;
    }
  });
  return {};
}

void SimulatedNodes::stop() {
  if (stopping_.exchange(true)) return;
  if (heartbeat_.joinable()) heartbeat_.join();
  loop_.stop();
}

void SimulatedNodes::kill(const std::string& node) {
  std::lock_guard lock(deadMutex_);
  dead_.insert(node);
}

void SimulatedNodes::renewLeases() {
  const api::ResourceType& leaseType = *api::findByKind("coordination.k8s.io/v1", "Lease");
  std::string now = api::rfc3339Now();
  const api::ResourceType& nodeType = *api::findByKind("v1", "Node");
  for (const auto& name : names_) {
    if (stopping_) return;
    {
      std::lock_guard lock(deadMutex_);
      if (dead_.count(name)) continue;
    }
    // `skiff.dev/simulate: dead` on the Node makes its machine "die": no more lease renewals.
    if (auto node = client_.get(nodeType, "", name); node) {
      const json::value* ann = api::valueAt(*node, "metadata.annotations");
      const json::value* sim = ann && ann->is_object() ? ann->get_object().if_contains("skiff.dev/simulate") : nullptr;
      if (sim && *sim == json::value("dead")) continue;
    }
    auto r = client_.patch(leaseType, "kube-node-lease", name, client::PatchType::Merge,
                             json::object{{"spec", json::object{{"renewTime", now}}}}, "");
    if (!r && r.error().code == 404) {
      json::value lease = json::object{
          {"metadata", json::object{{"name", name}}},
          {"spec", json::object{{"holderIdentity", name}, {"leaseDurationSeconds", 40}, {"renewTime", now}}}};
      r = client_.create(leaseType, "kube-node-lease", lease);
    }
    if (!r && r.error().reason != "AlreadyExists") log::warn("simulated-nodes", "lease of " + name + ": " + r.error().message);
  }
}

Result<controller::Requeue> SimulatedNodes::reconcilePod(const std::string& key) {
  auto [ns, name] = client::splitKey(key);
  client::ObjectPtr pod = pods_.get(ns, name);
  if (!pod) return controller::Requeue::done();
  std::string node = api::stringAt(*pod, "spec.nodeName");
  {
    std::lock_guard lock(deadMutex_);
    if (dead_.count(node)) return controller::Requeue::done();  // a dead node does nothing
  }
  if (auto n = client_.get(*api::findByKind("v1", "Node"), "", node); n) {
    const json::value* ann = api::valueAt(*n, "metadata.annotations");
    const json::value* sim = ann && ann->is_object() ? ann->get_object().if_contains("skiff.dev/simulate") : nullptr;
    if (sim && *sim == json::value("dead")) return controller::Requeue::done();
  }
  const api::ResourceType& podType = *api::findByKind("v1", "Pod");
  if (api::valueAt(*pod, "metadata.deletionTimestamp")) {
    // Nothing to stop: finish the graceful deletion at once.
    client::DeleteOptions now;
    now.gracePeriodSeconds = 0;
    auto r = client_.remove(podType, ns, name, now);
    if (!r && r.error().code != 404) return r.error();
    return controller::Requeue::done();
  }
  if (api::stringAt(*pod, "status.phase") == "Running") return controller::Requeue::done();
  std::string ts = api::rfc3339Now();
  uint32_t n = nextIp_++ % 65534 + 1;
  std::string ip = "198.18." + std::to_string(n / 256) + "." + std::to_string(n % 256);
  json::array statuses;
  if (const json::value* cs = api::valueAt(*pod, "spec.containers"); cs && cs->is_array())
    for (const auto& c : cs->get_array())
      statuses.push_back(json::object{{"name", api::stringAt(c, "name")}, {"image", api::stringAt(c, "image")},
                                      {"imageID", "simulated://" + api::stringAt(c, "image")}, {"ready", true},
                                      {"started", true}, {"restartCount", 0},
                                      {"state", json::object{{"running", json::object{{"startedAt", ts}}}}}});
  auto cond = [&](const char* type) {
    return json::object{{"type", type}, {"status", "True"}, {"lastProbeTime", nullptr}, {"lastTransitionTime", ts}};
  };
  json::value patch = json::object{{"status", json::object{
      {"phase", "Running"}, {"hostIP", "127.0.0.1"}, {"podIP", ip}, {"podIPs", json::array{json::object{{"ip", ip}}}},
      {"startTime", ts}, {"containerStatuses", statuses},
      {"conditions", json::array{cond("PodReadyToStartContainers"), cond("Initialized"), cond("Ready"), cond("ContainersReady"),
                                 cond("PodScheduled")}}}}};
  auto r = client_.patch(podType, ns, name, client::PatchType::Strategic, patch, "status");
  if (!r && r.error().code != 404) return r.error();
  return controller::Requeue::done();
}

}  // namespace skiff::agent
