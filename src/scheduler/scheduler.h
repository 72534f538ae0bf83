// The scheduler's decision as a pure function: a pod and a snapshot of nodes in, a node (or the
// reasons no node fits) out. Filters and scores are plugins that register themselves, so adding
// one is adding a file. No I/O here; scheduler_controller.h binds the decisions.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <unordered_map>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

namespace skiff::scheduler {

struct Resources {
  int64_t milliCpu = 0;
  int64_t memory = 0;  // bytes
  int64_t pods = 0;
  Resources& operator+=(const Resources& o) {
    milliCpu += o.milliCpu;
    memory += o.memory;
    pods += o.pods;
    return *this;
  }
};

// The labels and namespace of a pod on a node, for inter-pod affinity and spreading.
struct PodSummary {
  std::string key;  // "ns/name"
  std::string ns;
  std::string labels;  // metadata.labels as JSON text: parsed only for pods with affinity/spread terms
  int64_t priority = 0;
  bool terminating = false;
};

// What the scheduler knows about one node, precomputed once per snapshot.
struct NodeInfo {
  std::string name;
  const boost::json::value* node = nullptr;  // the Node object
  const boost::json::value* labels = nullptr;
  const boost::json::value* taints = nullptr;
  bool ready = false;
  bool unschedulable = false;
  Resources allocatable;
  Resources requested;  // sum over pods bound to it (pods count included)
  std::unordered_map<std::string, std::shared_ptr<const PodSummary>> pods;  // by "ns/name"
};

// A pod-affinity term resolved against the cluster: the topology domains holding a matching pod.
struct TermDomains {
  std::string topologyKey;
  std::set<std::string> domains;
  int64_t weight = 0;  // preferred terms
};
struct SpreadConstraint {
  std::string topologyKey;
  int64_t maxSkew = 1;
  bool hard = true;  // DoNotSchedule (filter) or ScheduleAnyway (score)
  std::map<std::string, int64_t> counts;  // matching pods per domain (eligible domains only)
  int64_t minCount = 0;
};

// What the scheduler knows about the pod being placed, computed once per decision.
struct PodInfo {
  const boost::json::value* pod = nullptr;
  Resources requests;
  // Looked up once here rather than per node by every plugin (null when absent).
  const boost::json::value* nodeSelector = nullptr;
  const boost::json::value* requiredTerms = nullptr;   // nodeAffinity required nodeSelectorTerms
  const boost::json::value* preferredTerms = nullptr;  // nodeAffinity preferred terms
  const boost::json::value* tolerations = nullptr;
  // Filled by schedule() for pods that use them (computed once per decision).
  std::vector<TermDomains> requiredAffinity, requiredAntiAffinity, preferredAffinity, preferredAntiAffinity;
  std::vector<SpreadConstraint> spread;
  bool selfMatchesAffinity = false;  // first pod of a group may satisfy its own affinity
  explicit PodInfo(const boost::json::value& p);
};

// The value of a node's label, or nullopt.
std::optional<std::string> nodeLabel(const NodeInfo& node, const std::string& key);

// A pod's requests: containers summed, init containers as the max, plus the pod itself.
Resources podRequests(const boost::json::value& pod);
NodeInfo makeNodeInfo(const boost::json::value& node);

struct Decision {
  std::string node;     // empty when nothing fits
  std::string message;  // "0/3 nodes are available: 2 Insufficient cpu, 1 node(s) were unschedulable."
};

// Filters nodes starting at `offset` (rotate it between calls to spread ties and sampling) and
// scores the feasible ones. Like kube-scheduler's percentageOfNodesToScore, it stops filtering
// once it has max(100, 5% of nodes) feasible nodes: big clusters stay fast, placement stays good.
Decision schedule(const boost::json::value& pod, const std::vector<NodeInfo>& nodes, size_t offset = 0);

// Preemption: the node where evicting the fewest (then lowest-priority) pods of lower priority
// lets the pod fit, and those pods; nullopt when none does or the pod may not preempt.
// `requestsOf` gives the requests of a pod on a node by key.
struct Preemption {
  std::string node;
  std::vector<std::string> victims;  // "ns/name"
};
std::optional<Preemption> findPreemption(const boost::json::value& pod, const std::vector<NodeInfo>& nodes,
                                         const std::function<Resources(const std::string& podKey)>& requestsOf);

// Plugins. A filter returns the reason a node is unfit (Kubernetes' wording) or nullopt.
using Filter = std::function<std::optional<std::string>(const PodInfo& pod, const NodeInfo& node)>;
// A score returns 0..100; the total is the weighted sum.
using Score = std::function<int64_t(const PodInfo& pod, const NodeInfo& node)>;

struct FilterPlugin {
  const char* name;
  Filter filter;
};
struct ScorePlugin {
  const char* name;
  int weight;
  Score score;
};

std::vector<FilterPlugin>& filterPlugins();
std::vector<ScorePlugin>& scorePlugins();

struct RegisterFilter {
  RegisterFilter(const char* name, Filter f) { filterPlugins().push_back({name, std::move(f)}); }
};
struct RegisterScore {
  RegisterScore(const char* name, int weight, Score s) { scorePlugins().push_back({name, weight, std::move(s)}); }
};

// Shared helpers for plugins.
bool tolerates(const boost::json::value& pod, const boost::json::value& taint);
bool toleratedBy(const boost::json::value* tolerations, const boost::json::value& taint);
bool matchesNodeSelectorTerm(const boost::json::value& term, const boost::json::value* nodeLabels, std::string_view nodeName);

}  // namespace skiff::scheduler
