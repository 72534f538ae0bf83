// The built-in filter and score plugins, each registering itself.
#include <boost/json.hpp>

#include "api/object.h"
#include "scheduler/scheduler.h"

namespace skiff::scheduler {
namespace json = boost::json;
namespace {

// NodeUnschedulable and node readiness.
RegisterFilter nodeUsable("NodeUnschedulable", [](const PodInfo& pod, const NodeInfo& n) -> std::optional<std::string> {
  if (n.unschedulable) {
    static const json::value taint = json::object{{"key", "node.kubernetes.io/unschedulable"}, {"effect", "NoSchedule"}};
    if (!toleratedBy(pod.tolerations, taint)) return "node(s) were unschedulable";
  }
  if (!n.ready) return "node(s) were not ready";
  return std::nullopt;
});

// NodeResourcesFit.
RegisterFilter resourcesFit("NodeResourcesFit", [](const PodInfo& pod, const NodeInfo& n) -> std::optional<std::string> {
  const Resources& want = pod.requests;
  if (n.requested.pods + 1 > n.allocatable.pods) return "Too many pods";
  if (want.milliCpu && n.requested.milliCpu + want.milliCpu > n.allocatable.milliCpu) return "Insufficient cpu";
  if (want.memory && n.requested.memory + want.memory > n.allocatable.memory) return "Insufficient memory";
  return std::nullopt;
});

// NodeName, nodeSelector and required node affinity.
RegisterFilter nodeAffinity("NodeAffinity", [](const PodInfo& info, const NodeInfo& n) -> std::optional<std::string> {
  const json::value* labels = n.labels;
  if (const json::value* sel = info.nodeSelector; sel && sel->is_object()) {
    for (const auto& kv : sel->get_object()) {
      const json::value* have = labels && labels->is_object() ? labels->get_object().if_contains(kv.key()) : nullptr;
      if (!have || *have != kv.value()) return "node(s) didn't match Pod's node affinity/selector";
    }
  }
  const json::value* terms = info.requiredTerms;
  if (terms && terms->is_array() && !terms->get_array().empty()) {
    bool any = false;
    for (const auto& t : terms->get_array()) any = any || matchesNodeSelectorTerm(t, labels, n.name);
    if (!any) return "node(s) didn't match Pod's node affinity/selector";
  }
  return std::nullopt;
});

// TaintToleration: NoSchedule and NoExecute taints need a toleration.
RegisterFilter taints("TaintToleration", [](const PodInfo& pod, const NodeInfo& n) -> std::optional<std::string> {
  const json::value* ts = n.taints;
  if (!ts || !ts->is_array()) return std::nullopt;
  for (const auto& t : ts->get_array()) {
    std::string effect = api::stringAt(t, "effect");
    if ((effect == "NoSchedule" || effect == "NoExecute") && !toleratedBy(pod.tolerations, t))
      return "node(s) had untolerated taint {" + api::stringAt(t, "key") + ": " + api::stringAt(t, "value") + "}";
  }
  return std::nullopt;
});

// InterPodAffinity: required affinity needs a matching pod in the node's domain (or, for the first
// pod of a group, the pod itself matching); required anti-affinity forbids one.
RegisterFilter interPod("InterPodAffinity", [](const PodInfo& pod, const NodeInfo& n) -> std::optional<std::string> {
  for (const auto& t : pod.requiredAffinity) {
    auto domain = nodeLabel(n, t.topologyKey);
    bool ok = domain && (t.domains.count(*domain) || (pod.selfMatchesAffinity && t.domains.empty()));
    if (!ok) return "node(s) didn't match pod affinity rules";
  }
  for (const auto& t : pod.requiredAntiAffinity) {
    auto domain = nodeLabel(n, t.topologyKey);
    if (domain && t.domains.count(*domain)) return "node(s) didn't match pod anti-affinity rules";
  }
  return std::nullopt;
});

// PodTopologySpread (DoNotSchedule): placing here must keep the skew within maxSkew.
RegisterFilter spreadFilter("PodTopologySpread", [](const PodInfo& pod, const NodeInfo& n) -> std::optional<std::string> {
  for (const auto& c : pod.spread) {
    if (!c.hard) continue;
    auto domain = nodeLabel(n, c.topologyKey);
    if (!domain) return "node(s) didn't match pod topology spread constraints (missing required label)";
    auto it = c.counts.find(*domain);
    int64_t here = it == c.counts.end() ? 0 : it->second;
    if (here + 1 - c.minCount > c.maxSkew) return "node(s) didn't match pod topology spread constraints";
  }
  return std::nullopt;
});

// Preferred pod (anti-)affinity and ScheduleAnyway spreading, scaled to 0..100.
RegisterScore interPodScore("InterPodAffinityPreferred", 2, [](const PodInfo& pod, const NodeInfo& n) -> int64_t {
  int64_t total = 0, score = 0;
  for (const auto& t : pod.preferredAffinity) {
    total += t.weight;
    if (auto d = nodeLabel(n, t.topologyKey); d && t.domains.count(*d)) score += t.weight;
  }
  for (const auto& t : pod.preferredAntiAffinity) {
    total += t.weight;
    if (auto d = nodeLabel(n, t.topologyKey); !d || !t.domains.count(*d)) score += t.weight;
  }
  return total ? score * 100 / total : 0;
});

RegisterScore spreadScore("PodTopologySpreadScore", 2, [](const PodInfo& pod, const NodeInfo& n) -> int64_t {
  int64_t worst = 0;
  bool any = false;
  for (const auto& c : pod.spread) {
    any = true;
    auto d = nodeLabel(n, c.topologyKey);
    if (!d) continue;
    auto it = c.counts.find(*d);
    int64_t skew = (it == c.counts.end() ? 0 : it->second) + 1 - c.minCount;
    worst = std::max(worst, skew);
  }
  return any ? std::max<int64_t>(0, 100 - worst * 10) : 0;
});

int64_t fraction(int64_t used, int64_t total) { return total <= 0 ? 0 : std::clamp<int64_t>(used * 100 / total, 0, 100); }

// NodeResourcesLeastAllocated: prefer nodes with the most free cpu and memory.
RegisterScore leastAllocated("NodeResourcesLeastAllocated", 1, [](const PodInfo& pod, const NodeInfo& n) -> int64_t {
  const Resources& want = pod.requests;
  int64_t cpu = 100 - fraction(n.requested.milliCpu + want.milliCpu, n.allocatable.milliCpu);
  int64_t mem = 100 - fraction(n.requested.memory + want.memory, n.allocatable.memory);
  int64_t pods = 100 - fraction(n.requested.pods + 1, n.allocatable.pods);
  return (cpu + mem + pods) / 3;
});

// NodeResourcesBalancedAllocation: prefer nodes whose cpu and memory use stay even.
RegisterScore balanced("NodeResourcesBalancedAllocation", 1, [](const PodInfo& pod, const NodeInfo& n) -> int64_t {
  const Resources& want = pod.requests;
  int64_t cpu = fraction(n.requested.milliCpu + want.milliCpu, n.allocatable.milliCpu);
  int64_t mem = fraction(n.requested.memory + want.memory, n.allocatable.memory);
  return 100 - std::abs(cpu - mem);
});

// Preferred node affinity: sum of the weights of the matching terms, scaled to 0..100.
RegisterScore preferredAffinity("NodeAffinityPreferred", 2, [](const PodInfo& pod, const NodeInfo& n) -> int64_t {
  const json::value* prefs = pod.preferredTerms;
  if (!prefs || !prefs->is_array() || prefs->get_array().empty()) return 0;
  int64_t total = 0, matched = 0;
  const json::value* labels = n.labels;
  for (const auto& p : prefs->get_array()) {
    const json::value* w = api::valueAt(p, "weight");
    int64_t weight = w && w->is_int64() ? w->get_int64() : 1;
    total += weight;
    if (const json::value* term = api::valueAt(p, "preference"); term && matchesNodeSelectorTerm(*term, labels, n.name))
      matched += weight;
  }
  return total ? matched * 100 / total : 0;
});

// PreferNoSchedule taints count against a node.
RegisterScore softTaints("TaintTolerationPreferNoSchedule", 1, [](const PodInfo& pod, const NodeInfo& n) -> int64_t {
  const json::value* ts = n.taints;
  if (!ts || !ts->is_array()) return 100;
  int64_t bad = 0;
  for (const auto& t : ts->get_array())
    if (api::stringAt(t, "effect") == "PreferNoSchedule" && !toleratedBy(pod.tolerations, t)) ++bad;
  return std::max<int64_t>(0, 100 - bad * 25);
});

}  // namespace
}  // namespace skiff::scheduler
