#include "scheduler/scheduler.h"

#include <boost/json.hpp>

#include "api/object.h"
#include "api/quantity.h"
#include "api/selector.h"

namespace skiff::scheduler {
namespace json = boost::json;

namespace {
int64_t controllerInt(const json::value& o, const char* field) {
  const json::value* v = api::valueAt(o, field);
  return v && v->is_int64() ? v->get_int64() : 0;
}
}  // namespace

std::vector<FilterPlugin>& filterPlugins() {
  static std::vector<FilterPlugin> plugins;
  return plugins;
}
std::vector<ScorePlugin>& scorePlugins() {
  static std::vector<ScorePlugin> plugins;
  return plugins;
}

namespace {
Resources containerRequests(const json::value& c) {
  Resources r;
  const json::value* req = api::valueAt(c, "resources.requests");
  const json::value* lim = api::valueAt(c, "resources.limits");
  auto pick = [&](const char* name) -> const json::value* {
    const json::value* v = req && req->is_object() ? req->get_object().if_contains(name) : nullptr;
    if (!v && lim && lim->is_object()) v = lim->get_object().if_contains(name);  // limits imply requests
    return v;
  };
  r.milliCpu = api::quantityMilli(pick("cpu"));
  r.memory = api::quantityMilli(pick("memory")) / 1000;
  return r;
}
}  // namespace

Resources podRequests(const json::value& pod) {
  Resources sum;
  if (const json::value* cs = api::valueAt(pod, "spec.containers"); cs && cs->is_array())
    for (const auto& c : cs->get_array()) sum += containerRequests(c);
  if (const json::value* ics = api::valueAt(pod, "spec.initContainers"); ics && ics->is_array())
    for (const auto& c : ics->get_array()) {
      Resources r = containerRequests(c);
      sum.milliCpu = std::max(sum.milliCpu, r.milliCpu);
      sum.memory = std::max(sum.memory, r.memory);
    }
  if (const json::value* oh = api::valueAt(pod, "spec.overhead"); oh && oh->is_object()) {
    sum.milliCpu += api::quantityMilli(oh->get_object().if_contains("cpu"));
    sum.memory += api::quantityMilli(oh->get_object().if_contains("memory")) / 1000;
  }
  sum.pods = 1;
  return sum;
}

PodInfo::PodInfo(const json::value& p)
    : pod(&p),
      requests(podRequests(p)),
      nodeSelector(api::valueAt(p, "spec.nodeSelector")),
      requiredTerms(api::valueAt(p, "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms")),
      preferredTerms(api::valueAt(p, "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution")),
      tolerations(api::valueAt(p, "spec.tolerations")) {}

NodeInfo makeNodeInfo(const json::value& node) {
  NodeInfo n;
  n.name = api::stringAt(node, "metadata.name");
  n.node = &node;
  n.labels = api::valueAt(node, "metadata.labels");
  n.taints = api::valueAt(node, "spec.taints");
  if (const json::value* u = api::valueAt(node, "spec.unschedulable"); u && u->is_bool()) n.unschedulable = u->get_bool();
  if (const json::value* conds = api::valueAt(node, "status.conditions"); conds && conds->is_array())
    for (const auto& c : conds->get_array())
      if (api::stringAt(c, "type") == "Ready") n.ready = api::stringAt(c, "status") == "True";
  const json::value* alloc = api::valueAt(node, "status.allocatable");
  if (!alloc || !alloc->is_object()) alloc = api::valueAt(node, "status.capacity");
  if (alloc && alloc->is_object()) {
    const auto& a = alloc->get_object();
    n.allocatable.milliCpu = api::quantityMilli(a.if_contains("cpu"));
    n.allocatable.memory = api::quantityMilli(a.if_contains("memory")) / 1000;
    n.allocatable.pods = api::quantityMilli(a.if_contains("pods")) / 1000;
  }
  return n;
}

bool tolerates(const json::value& pod, const json::value& taint) {
  return toleratedBy(api::valueAt(pod, "spec.tolerations"), taint);
}

bool toleratedBy(const json::value* tols, const json::value& taint) {
  if (!tols || !tols->is_array()) return false;
  std::string key = api::stringAt(taint, "key"), value = api::stringAt(taint, "value"), effect = api::stringAt(taint, "effect");
  for (const auto& t : tols->get_array()) {
    std::string tEffect = api::stringAt(t, "effect");
    if (!tEffect.empty() && tEffect != effect) continue;
    std::string tKey = api::stringAt(t, "key"), op = api::stringAt(t, "operator");
    if (op.empty()) op = "Equal";
    if (tKey.empty()) {
      if (op == "Exists") return true;  // tolerates everything
      continue;
    }
    if (tKey != key) continue;
    if (op == "Exists" || api::stringAt(t, "value") == value) return true;
  }
  return false;
}

bool matchesNodeSelectorTerm(const json::value& term, const json::value* labels, std::string_view nodeName) {
  auto labelOf = [&](const std::string& k) -> std::optional<std::string> {
    const json::object* o = labels ? labels->if_object() : nullptr;
    const json::value* v = o ? o->if_contains(k) : nullptr;
    if (v && v->is_string()) return std::string(v->get_string());
    return std::nullopt;
  };
  auto check = [](const json::value& expr, const std::optional<std::string>& actual) {
    std::string op = api::stringAt(expr, "operator");
    std::vector<std::string> values;
    if (const json::value* vs = api::valueAt(expr, "values"); vs && vs->is_array())
      for (const auto& v : vs->get_array())
        if (v.is_string()) values.emplace_back(v.get_string());
    bool in = actual && std::find(values.begin(), values.end(), *actual) != values.end();
    if (op == "In") return in;
    if (op == "NotIn") return !in;
    if (op == "Exists") return actual.has_value();
    if (op == "DoesNotExist") return !actual.has_value();
    if ((op == "Gt" || op == "Lt") && actual && values.size() == 1) {
      char* end = nullptr;
      long long a = std::strtoll(actual->c_str(), &end, 10);
      if (*end) return false;
      long long b = std::strtoll(values[0].c_str(), nullptr, 10);
      return op == "Gt" ? a > b : a < b;
    }
    return false;
  };
  bool any = false;
  if (const json::value* exprs = api::valueAt(term, "matchExpressions"); exprs && exprs->is_array())
    for (const auto& e : exprs->get_array()) {
      any = true;
      if (!check(e, labelOf(api::stringAt(e, "key")))) return false;
    }
  if (const json::value* fields = api::valueAt(term, "matchFields"); fields && fields->is_array())
    for (const auto& e : fields->get_array()) {
      any = true;
      if (api::stringAt(e, "key") != "metadata.name" || !check(e, std::string(nodeName))) return false;
    }
  return any;  // an empty term matches nothing, as in Kubernetes
}

std::optional<std::string> nodeLabel(const NodeInfo& node, const std::string& key) {
  const json::object* labels = node.labels ? node.labels->if_object() : nullptr;
  const json::value* v = labels ? labels->if_contains(key) : nullptr;
  if (v && v->is_string()) return std::string(v->get_string());
  return std::nullopt;
}

namespace {

bool podMatches(const PodSummary& p, const api::LabelSelector& sel, const std::set<std::string>& namespaces) {
  if (!namespaces.count(p.ns)) return false;
  json::value labels = p.labels.empty() ? json::value() : json::parse(p.labels);
  return sel.matches(&labels);
}

std::set<std::string> termNamespaces(const json::value& term, const std::string& podNs) {
  std::set<std::string> out;
  if (const json::value* ns = api::valueAt(term, "namespaces"); ns && ns->is_array())
    for (const auto& n : ns->get_array())
      if (n.is_string()) out.insert(std::string(n.get_string()));
  if (out.empty()) out.insert(podNs);
  return out;
}

// Resolves affinity terms, anti-affinity terms and spread constraints against the snapshot.
void prepareInterPod(PodInfo& info, const std::vector<NodeInfo>& nodes) {
  const json::value& pod = *info.pod;
  std::string podNs = api::stringAt(pod, "metadata.namespace");
  const json::value* podLabels = api::valueAt(pod, "metadata.labels");
  auto resolve = [&](const json::value& term, int64_t weight, std::vector<TermDomains>& out, bool checkSelf) {
    const json::value* sel = api::valueAt(term, "labelSelector");
    auto selector = api::LabelSelector::fromObject(sel ? *sel : json::value());
    if (!selector) return;
    TermDomains td{api::stringAt(term, "topologyKey"), {}, weight};
    auto namespaces = termNamespaces(term, podNs);
    for (const auto& n : nodes) {
      auto domain = nodeLabel(n, td.topologyKey);
      if (!domain) continue;
      for (const auto& [k, p] : n.pods)
        if (podMatches(*p, *selector, namespaces)) {
          td.domains.insert(*domain);
          break;
        }
    }
    if (checkSelf && namespaces.count(podNs) && selector->matches(podLabels)) info.selfMatchesAffinity = true;
    out.push_back(std::move(td));
  };
  for (const auto& [path, list, anti] :
       {std::tuple{"spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution", &info.requiredAffinity, false},
        std::tuple{"spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution", &info.requiredAntiAffinity, true}})
    if (const json::value* terms = api::valueAt(pod, path); terms && terms->is_array())
      for (const auto& t : terms->get_array()) resolve(t, 0, *list, !anti);
  for (const auto& [path, list] :
       {std::pair{"spec.affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution", &info.preferredAffinity},
        std::pair{"spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution", &info.preferredAntiAffinity}})
    if (const json::value* terms = api::valueAt(pod, path); terms && terms->is_array())
      for (const auto& t : terms->get_array())
        if (const json::value* term = api::valueAt(t, "podAffinityTerm")) resolve(*term, controllerInt(t, "weight"), *list, false);
  if (const json::value* cs = api::valueAt(pod, "spec.topologySpreadConstraints"); cs && cs->is_array())
    for (const auto& c : cs->get_array()) {
      SpreadConstraint sc;
      sc.topologyKey = api::stringAt(c, "topologyKey");
      sc.maxSkew = std::max<int64_t>(1, controllerInt(c, "maxSkew"));
      sc.hard = api::stringAt(c, "whenUnsatisfiable") != "ScheduleAnyway";
      const json::value* sel = api::valueAt(c, "labelSelector");
      auto selector = api::LabelSelector::fromObject(sel ? *sel : json::value());
      if (!selector) continue;
      std::set<std::string> namespaces{podNs};
      for (const auto& n : nodes) {
        auto domain = nodeLabel(n, sc.topologyKey);
        if (!domain || !n.ready) continue;
        int64_t& count = sc.counts[*domain];
        for (const auto& [k, p] : n.pods)
          if (podMatches(*p, *selector, namespaces)) ++count;
      }
      sc.minCount = sc.counts.empty() ? 0 : std::min_element(sc.counts.begin(), sc.counts.end(), [](auto& a, auto& b) { return a.second < b.second; })->second;
      info.spread.push_back(std::move(sc));
    }
}

}  // namespace

std::optional<Preemption> findPreemption(const json::value& pod, const std::vector<NodeInfo>& nodes,
                                         const std::function<Resources(const std::string&)>& requestsOf) {
  const json::value* pv = api::valueAt(pod, "spec.priority");
  int64_t priority = pv && pv->is_int64() ? pv->get_int64() : 0;
  if (api::stringAt(pod, "spec.preemptionPolicy") == "Never") return std::nullopt;
  PodInfo info(pod);
  if (api::valueAt(pod, "spec.affinity.podAffinity") || api::valueAt(pod, "spec.affinity.podAntiAffinity") ||
      api::valueAt(pod, "spec.topologySpreadConstraints"))
    prepareInterPod(info, nodes);
  std::optional<Preemption> best;
  int64_t bestMax = 0;
  for (const auto& node : nodes) {
    std::vector<std::shared_ptr<const PodSummary>> candidates;
    for (const auto& [key, p] : node.pods)
      if (p->priority < priority && !p->terminating) candidates.push_back(p);
    if (candidates.empty()) continue;
    std::sort(candidates.begin(), candidates.end(), [](const auto& a, const auto& b) {
      return a->priority != b->priority ? a->priority < b->priority : a->key < b->key;
    });
    NodeInfo trial = node;
    std::vector<std::string> victims;
    int64_t maxPriority = 0;
    for (const auto& c : candidates) {
      Resources r = requestsOf(c->key);
      trial.requested.milliCpu -= r.milliCpu;
      trial.requested.memory -= r.memory;
      trial.requested.pods -= r.pods;
      trial.pods.erase(c->key);
      victims.push_back(c->key);
      maxPriority = std::max(maxPriority, c->priority);
      bool fits = true;
      for (const auto& f : filterPlugins())
        if (f.filter(info, trial)) {
          fits = false;
          break;
        }
      if (!fits) continue;
      if (!best || victims.size() < best->victims.size() || (victims.size() == best->victims.size() && maxPriority < bestMax)) {
        best = Preemption{node.name, victims};
        bestMax = maxPriority;
      }
      break;
    }
  }
  return best;
}

Decision schedule(const json::value& pod, const std::vector<NodeInfo>& nodes, size_t offset) {
  PodInfo info(pod);
  if (api::valueAt(pod, "spec.affinity.podAffinity") || api::valueAt(pod, "spec.affinity.podAntiAffinity") ||
      api::valueAt(pod, "spec.topologySpreadConstraints"))
    prepareInterPod(info, nodes);
  std::map<std::string, int> reasons;
  const size_t enough = std::max<size_t>(100, nodes.size() / 20);
  std::vector<const NodeInfo*> feasible;
  for (size_t i = 0; i < nodes.size() && feasible.size() < enough; ++i) {
    const NodeInfo& node = nodes[(offset + i) % nodes.size()];
    std::optional<std::string> reason;
    for (const auto& f : filterPlugins()) {
      reason = f.filter(info, node);
      if (reason) break;
    }
    if (reason) ++reasons[*reason];
    else feasible.push_back(&node);
  }
  const NodeInfo* best = nullptr;
  int64_t bestScore = -1;
  for (const NodeInfo* node : feasible) {
    int64_t total = 0;
    for (const auto& s : scorePlugins()) total += s.weight * s.score(info, *node);
    if (total > bestScore) {  // ties: the first in rotated order wins, so they spread
      bestScore = total;
      best = node;
    }
  }
  if (best) return {best->name, ""};
  std::string msg = "0/" + std::to_string(nodes.size()) + " nodes are available";
  if (!reasons.empty()) {
    msg += ": ";
    bool first = true;
    for (const auto& [why, n] : reasons) {
      msg += (first ? "" : ", ") + std::to_string(n) + " " + why;
      first = false;
    }
  }
  return {"", msg + "."};
}

}  // namespace skiff::scheduler
