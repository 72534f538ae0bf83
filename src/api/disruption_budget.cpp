#include "api/disruption_budget.h"

#include <boost/json.hpp>

#include "api/object.h"

namespace skiff::api {
namespace json = boost::json;

std::optional<IntOrPercent> IntOrPercent::from(const json::value& v) {
  if (v.is_int64()) return IntOrPercent{v.get_int64(), false};
  if (v.is_uint64() && v.get_uint64() <= uint64_t(INT64_MAX)) return IntOrPercent{int64_t(v.get_uint64()), false};
  if (!v.is_string()) return std::nullopt;
  std::string_view s = v.get_string();
  if (s.size() < 2 || s.back() != '%' || s.size() > 12) return std::nullopt;
  int64_t n = 0;
  for (char c : s.substr(0, s.size() - 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  return IntOrPercent{n, true};
}

int64_t IntOrPercent::scaled(int64_t total, bool roundUp) const {
  if (!percent) return value;
  int64_t product = value * total;
  return roundUp ? (product + 99) / 100 : product / 100;
}

std::string IntOrPercent::text() const { return std::to_string(value) + (percent ? "%" : ""); }

namespace {
int64_t intOr0(const json::value& o, std::string_view path) {
  const json::value* v = valueAt(o, path);
  if (v && v->is_int64()) return v->get_int64();
  if (v && v->is_uint64()) return int64_t(v->get_uint64());
  return 0;
}

Result<std::optional<IntOrPercent>> intOrPercentAt(const json::value& pdb, std::string_view path) {
  const json::value* v = valueAt(pdb, path);
  if (!v || v->is_null()) return std::optional<IntOrPercent>();
  auto parsed = IntOrPercent::from(*v);
  if (!parsed) return Error::invalid(std::string(path) + ": must be an integer or percentage (e.g '5%')");
  return std::optional<IntOrPercent>(*parsed);
}
}  // namespace

Result<DisruptionBudget> disruptionBudgetOf(const json::value& pdb) {
  DisruptionBudget b;
  b.ns = stringAt(pdb, "metadata.namespace");
  b.name = stringAt(pdb, "metadata.name");
  b.resourceVersion = stringAt(pdb, "metadata.resourceVersion");
  b.generation = intOr0(pdb, "metadata.generation");
  if (const json::value* sel = valueAt(pdb, "spec.selector"); sel && !sel->is_null()) {
    auto parsed = LabelSelector::fromObject(*sel);
    if (!parsed) return Error::invalid("spec.selector: " + parsed.error().message);
    b.selector = std::move(*parsed);
  }
  auto minAvailable = intOrPercentAt(pdb, "spec.minAvailable");
  if (!minAvailable) return minAvailable.error();
  b.minAvailable = *minAvailable;
  auto maxUnavailable = intOrPercentAt(pdb, "spec.maxUnavailable");
  if (!maxUnavailable) return maxUnavailable.error();
  b.maxUnavailable = *maxUnavailable;
  b.alwaysAllowUnhealthy = stringAt(pdb, "spec.unhealthyPodEvictionPolicy") == "AlwaysAllow";
  DisruptionBudgetStatus& s = b.status;
  s.observedGeneration = intOr0(pdb, "status.observedGeneration");
  s.disruptionsAllowed = intOr0(pdb, "status.disruptionsAllowed");
  s.currentHealthy = intOr0(pdb, "status.currentHealthy");
  s.desiredHealthy = intOr0(pdb, "status.desiredHealthy");
  s.expectedPods = intOr0(pdb, "status.expectedPods");
  if (const json::value* d = valueAt(pdb, "status.disruptedPods"); d && d->is_object())
    for (const auto& [pod, when] : d->get_object())
      if (when.is_string())
        if (int64_t t = parseRfc3339(when.get_string()); t >= 0) s.disruptedPods[std::string(pod)] = t;
  return b;
}

json::object statusFields(const DisruptionBudgetStatus& s) {
  json::object disrupted;
  for (const auto& [pod, when] : s.disruptedPods) disrupted[pod] = rfc3339(when);
  json::object out{{"observedGeneration", s.observedGeneration}, {"disruptionsAllowed", s.disruptionsAllowed},
                   {"currentHealthy", s.currentHealthy},         {"desiredHealthy", s.desiredHealthy},
                   {"expectedPods", s.expectedPods}};
  if (!disrupted.empty()) out["disruptedPods"] = std::move(disrupted);
  return out;
}

json::array withDisruptionAllowedCondition(const json::value* conditions, int64_t disruptionsAllowed, int64_t observedGeneration,
                                           const std::string& syncError, int64_t now) {
  std::string status = syncError.empty() && disruptionsAllowed > 0 ? "True" : "False";
  std::string reason = !syncError.empty() ? "SyncFailed" : disruptionsAllowed > 0 ? "SufficientPods" : "InsufficientPods";
  json::array out;
  std::string since = rfc3339(now);
  if (conditions && conditions->is_array())
    for (const auto& c : conditions->get_array()) {
      if (stringAt(c, "type") != "DisruptionAllowed") {
        out.push_back(c);
        continue;
      }
      if (stringAt(c, "status") == status && !stringAt(c, "lastTransitionTime").empty()) since = stringAt(c, "lastTransitionTime");
    }
  out.push_back(json::object{{"type", "DisruptionAllowed"}, {"status", status}, {"reason", reason}, {"message", syncError},
                             {"observedGeneration", observedGeneration}, {"lastTransitionTime", since}});
  return out;
}

}  // namespace skiff::api
