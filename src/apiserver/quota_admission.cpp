#include "apiserver/quota_admission.h"

#include <boost/json.hpp>

#include <algorithm>
#include <set>

#include "api/object.h"
#include "api/quantity.h"

namespace skiff::apiserver {
namespace json = boost::json;

namespace {
using Amounts = std::map<std::string, int64_t>;  // resource name -> milli-units

Amounts amountsAt(const json::value& v, std::string_view path) {
  Amounts out;
  if (const json::value* m = api::valueAt(v, path); m && m->is_object())
    for (const auto& [k, q] : m->get_object())
      if (auto milli = q.is_string() ? api::parseQuantityMilli(q.get_string()) : std::optional<int64_t>(api::quantityMilli(&q)))
        out[std::string(k)] = *milli;
  return out;
}

// What one pod asks for: requests and limits summed over its containers, an init container's
// larger ask counting instead (Kubernetes' effective request).
struct PodAsk {
  Amounts requests, limits;
  bool bestEffort = true, terminating = false;
  std::vector<std::pair<std::string, std::pair<Amounts, Amounts>>> containers;  // name -> (requests, limits)
};

PodAsk askOf(const json::value& pod) {
  PodAsk a;
  a.terminating = api::valueAt(pod, "spec.activeDeadlineSeconds") != nullptr;
  for (const auto& c : api::arrayAt(pod, "spec.containers")) {
    Amounts req = amountsAt(c, "resources.requests"), lim = amountsAt(c, "resources.limits");
    for (const auto& [k, v] : req) a.requests[k] += v;
    for (const auto& [k, v] : lim) a.limits[k] += v;
    a.bestEffort = a.bestEffort && req.empty() && lim.empty();
    a.containers.push_back({api::stringAt(c, "name"), {req, lim}});
  }
  for (const auto& c : api::arrayAt(pod, "spec.initContainers")) {
    Amounts req = amountsAt(c, "resources.requests"), lim = amountsAt(c, "resources.limits");
    for (const auto& [k, v] : req) a.requests[k] = std::max(a.requests[k], v);
    for (const auto& [k, v] : lim) a.limits[k] = std::max(a.limits[k], v);
    a.bestEffort = a.bestEffort && req.empty() && lim.empty();
  }
  return a;
}

bool finished(const json::value& pod) {
  std::string phase = api::stringAt(pod, "status.phase");
  return phase == "Succeeded" || phase == "Failed";
}

bool inScopes(const PodAsk& a, const std::vector<std::string>& scopes) {
  for (const auto& s : scopes) {
    if (s == "BestEffort" && !a.bestEffort) return false;
    if (s == "NotBestEffort" && a.bestEffort) return false;
    if (s == "Terminating" && !a.terminating) return false;
    if (s == "NotTerminating" && a.terminating) return false;
  }
  return true;
}

// What `object` of `type` adds to quota `key` (milli-units); 0 when the key does not count it.
int64_t contribution(const std::string& key, const api::ResourceType& type, const json::value& object, const std::vector<std::string>& scopes) {
  const std::string& kind = type.kind;
  if (key.starts_with("count/")) {
    std::string want = key.substr(6);
    std::string have = type.group.empty() ? type.plural : type.plural + "." + type.group;
    return want == have ? 1000 : 0;
  }
  if (kind == "Pod") {
    if (finished(object)) return 0;
    PodAsk a = askOf(object);
    if (!inScopes(a, scopes)) return 0;
    if (key == "pods") return 1000;
    if (key == "requests.cpu" || key == "cpu") return a.requests.count("cpu") ? a.requests["cpu"] : 0;
    if (key == "requests.memory" || key == "memory") return a.requests.count("memory") ? a.requests["memory"] : 0;
    if (key == "limits.cpu") return a.limits.count("cpu") ? a.limits["cpu"] : 0;
    if (key == "limits.memory") return a.limits.count("memory") ? a.limits["memory"] : 0;
    return 0;
  }
  if (!scopes.empty()) return 0;  // the scopes above select pods only
  if ((key == "services" && kind == "Service") || (key == "configmaps" && kind == "ConfigMap") || (key == "secrets" && kind == "Secret") ||
      (key == "persistentvolumeclaims" && kind == "PersistentVolumeClaim"))
    return 1000;
  if (key == "requests.storage" && kind == "PersistentVolumeClaim") return api::quantityMilli(api::valueAt(object, "spec.resources.requests.storage"));
  return 0;
}

const api::ResourceType* typeCounted(const std::string& key) {
  if (key == "pods" || key.starts_with("requests.") || key.starts_with("limits.") || key == "cpu" || key == "memory")
    return key == "requests.storage" ? api::findByKind("v1", "PersistentVolumeClaim") : api::findByKind("v1", "Pod");
  if (key == "services") return api::findByKind("v1", "Service");
  if (key == "configmaps") return api::findByKind("v1", "ConfigMap");
  if (key == "secrets") return api::findByKind("v1", "Secret");
  if (key == "persistentvolumeclaims") return api::findByKind("v1", "PersistentVolumeClaim");
  if (key.starts_with("count/")) {
    std::string r = key.substr(6);
    auto dot = r.find('.');
    std::string plural = r.substr(0, dot), group = dot == std::string::npos ? "" : r.substr(dot + 1);
    for (const auto& t : api::builtinResources())
      if (t.plural == plural && t.group == group && !t.createOnly) return &t;
  }
  return nullptr;
}

std::string joined(const std::vector<std::string>& parts) {
  std::string s;
  for (const auto& p : parts) s += (s.empty() ? "" : ",") + p;
  return s;
}

// One LimitRange item.
struct LimitItem {
  std::string type;
  Amounts min, max, def, defaultRequest, ratio;
};

std::vector<LimitItem> limitItems(const std::vector<json::value>& ranges) {
  std::vector<LimitItem> out;
  for (const auto& r : ranges)
    for (const auto& l : api::arrayAt(r, "spec.limits")) {
      LimitItem i{api::stringAt(l, "type"), amountsAt(l, "min"), amountsAt(l, "max"), amountsAt(l, "default"),
                  amountsAt(l, "defaultRequest"), amountsAt(l, "maxLimitRequestRatio")};
      if (i.defaultRequest.empty()) i.defaultRequest = i.def;  // as the API defaults a LimitRange
      out.push_back(std::move(i));
    }
  return out;
}

// The object at `path`, made when absent.
json::object& objectAt(json::value& v, std::string_view path) {
  json::value& slot = api::ensurePath(v, path);
  if (!slot.is_object()) slot = json::object();
  return slot.get_object();
}

json::value quantityJson(const std::string& resource, int64_t milli) { return json::string(quotaAmount(resource, milli)); }

void checkBounds(const std::string& what, const LimitItem& item, const Amounts& requests, const Amounts& limits, std::vector<std::string>& problems) {
  for (const auto& [res, min] : item.min) {
    auto r = requests.find(res);
    if (r == requests.end()) problems.push_back("minimum " + res + " usage per " + what + " is " + quotaAmount(res, min) + ".  No request is specified");
    else if (r->second < min)
      problems.push_back("minimum " + res + " usage per " + what + " is " + quotaAmount(res, min) + ", but request is " + quotaAmount(res, r->second));
  }
  for (const auto& [res, max] : item.max) {
    auto l = limits.find(res);
    if (l == limits.end()) problems.push_back("maximum " + res + " usage per " + what + " is " + quotaAmount(res, max) + ".  No limit is specified");
    else if (l->second > max)
      problems.push_back("maximum " + res + " usage per " + what + " is " + quotaAmount(res, max) + ", but limit is " + quotaAmount(res, l->second));
  }
  for (const auto& [res, ratio] : item.ratio) {
    auto l = limits.find(res), r = requests.find(res);
    if (l == limits.end() || r == requests.end() || r->second == 0) continue;
    // ratio is in milli-units too: compare limit*1000 <= request*ratio.
    if (l->second * 1000 > r->second * ratio)
      problems.push_back(res + " max limit to request ratio per " + what + " is " + quotaAmount("count", ratio) + ", but provided ratio is " +
                         std::to_string(double(l->second) / double(r->second)).substr(0, 8));
  }
}
}  // namespace

std::string quotaAmount(const std::string& key, int64_t milli) {
  bool cpu = key.find("cpu") != std::string::npos;
  if (cpu) return milli % 1000 == 0 ? std::to_string(milli / 1000) : std::to_string(milli) + "m";
  bool bytes = key.find("memory") != std::string::npos || key.find("storage") != std::string::npos;
  int64_t units = milli / 1000;
  if (bytes && units > 0)
    for (auto [suffix, size] : {std::pair{"Gi", int64_t(1) << 30}, std::pair{"Mi", int64_t(1) << 20}, std::pair{"Ki", int64_t(1) << 10}})
      if (units % size == 0) return std::to_string(units / size) + suffix;
  return milli % 1000 == 0 ? std::to_string(units) : std::to_string(milli) + "m";
}

std::map<std::string, int64_t> hardOf(const json::value& quota) { return amountsAt(quota, "spec.hard"); }

std::map<std::string, int64_t> quotaUsage(const std::map<std::string, int64_t>& hard, const std::vector<std::string>& scopes,
                                          const std::function<std::vector<json::value>(const api::ResourceType&)>& list) {
  std::map<std::string, int64_t> used;
  std::map<const api::ResourceType*, std::vector<json::value>> cache;
  for (const auto& [key, limit] : hard) {
    used[key] = 0;
    const api::ResourceType* t = typeCounted(key);
    if (!t) continue;
    auto it = cache.find(t);
    if (it == cache.end()) it = cache.emplace(t, list(*t)).first;
    for (const auto& o : it->second) used[key] += contribution(key, *t, o, scopes);
  }
  return used;
}

void QuotaAdmission::observe(const std::string& storageKey, bool exists) {
  // /registry/core/<plural>/<ns>/<name>
  constexpr std::string_view prefix = "/registry/core/";
  if (!std::string_view(storageKey).starts_with(prefix)) return;
  std::string rest = storageKey.substr(prefix.size());
  auto last = rest.rfind('/');
  if (last == std::string::npos) return;
  std::string bucket = rest.substr(0, last), name = rest.substr(last + 1);
  std::lock_guard lock(observedMutex_);
  if (exists) {
    observed_[bucket].insert(name);
  } else if (auto it = observed_.find(bucket); it != observed_.end()) {
    it->second.erase(name);
    if (it->second.empty()) observed_.erase(it);
  }
}

bool QuotaAdmission::holds(const char* plural, const std::string& ns) const {
  std::lock_guard lock(observedMutex_);
  return observed_.count(std::string(plural) + "/" + ns) > 0;
}

std::mutex& QuotaAdmission::namespaceLock(const std::string& ns) const {
  std::lock_guard lock(locksMutex_);
  auto& m = locks_[ns];
  if (!m) m = std::make_unique<std::mutex>();
  return *m;
}

Status QuotaAdmission::limitRanges(const api::ResourceType& type, const std::string& ns, json::value& object) const {
  if (!view_.list || type.custom || (type.kind != "Pod" && type.kind != "PersistentVolumeClaim") || !holds("limitranges", ns)) return {};
  auto ranges = view_.list(*api::findByKind("v1", "LimitRange"), ns);
  if (ranges.empty()) return {};
  std::vector<LimitItem> items = limitItems(ranges);
  std::vector<std::string> problems;
  std::string name = api::stringAt(object, "metadata.name");
  if (type.kind == "PersistentVolumeClaim") {
    Amounts req = amountsAt(object, "spec.resources.requests"), lim = amountsAt(object, "spec.resources.limits");
    for (const auto& item : items)
      if (item.type == "PersistentVolumeClaim") checkBounds("PersistentVolumeClaim", item, req, req.empty() ? lim : (lim.empty() ? req : lim), problems);
  } else {
    std::vector<std::string> setRequests, setLimits;
    for (const char* list : {"initContainers", "containers"}) {
      json::value* cs = api::valueAt(object, std::string("spec.") + list) ? &api::ensurePath(object, std::string("spec.") + list) : nullptr;
      if (!cs || !cs->is_array()) continue;
      for (auto& c : cs->as_array()) {
        std::string cname = api::stringAt(c, "name");
        Amounts givenLimits = amountsAt(c, "resources.limits");  // the user's, before any default
        for (const auto& item : items) {
          if (item.type != "Container") continue;
          for (const auto& [res, v] : item.def)
            if (!api::valueAt(c, "resources.limits." + res)) {
              objectAt(c, "resources.limits")[res] = quantityJson(res, v);
              setLimits.push_back(res + " limit for " + (std::string(list) == "initContainers" ? "init container " : "container ") + cname);
            }
          for (const auto& [res, v] : item.defaultRequest)
            if (!api::valueAt(c, "resources.requests." + res)) {
              // A request left out takes the limit the user gave (Kubernetes' pod defaulting),
              // else the range's default request.
              auto given = givenLimits.find(res);
              objectAt(c, "resources.requests")[res] = quantityJson(res, given != givenLimits.end() ? given->second : v);
              setRequests.push_back(res + " request for " + (std::string(list) == "initContainers" ? "init container " : "container ") + cname);
            }
          checkBounds("Container", item, amountsAt(c, "resources.requests"), amountsAt(c, "resources.limits"), problems);
        }
      }
    }
    PodAsk a = askOf(object);
    for (const auto& item : items)
      if (item.type == "Pod") checkBounds("Pod", item, a.requests, a.limits, problems);
    if (!setRequests.empty() || !setLimits.empty()) {
      std::string note = "LimitRanger plugin set: ";
      std::vector<std::string> all = setRequests;
      all.insert(all.end(), setLimits.begin(), setLimits.end());
      for (size_t i = 0; i < all.size(); ++i) note += (i ? "; " : "") + all[i];
      objectAt(object, "metadata.annotations")["kubernetes.io/limit-ranger"] = note;
    }
  }
  if (problems.empty()) return {};
  std::string msg;
  for (size_t i = 0; i < problems.size(); ++i) msg += (i ? ", " : "") + problems[i];
  return Error::forbidden(type.plural + " \"" + name + "\" is forbidden: [" + msg + "]");
}

Status QuotaAdmission::quota(const api::ResourceType& type, const std::string& ns, const json::value& object,
                             std::unique_lock<std::mutex>& release) const {
  if (!view_.list || type.custom || ns.empty() || type.createOnly || !holds("resourcequotas", ns)) return {};
  const api::ResourceType* quotaType = api::findByKind("v1", "ResourceQuota");
  auto quotas = view_.list(*quotaType, ns);
  if (quotas.empty()) return {};
  release = std::unique_lock(namespaceLock(ns));
  std::string name = api::stringAt(object, "metadata.name");
  for (const auto& q : quotas) {
    std::string qname = api::stringAt(q, "metadata.name");
    Amounts hard = hardOf(q);
    std::vector<std::string> scopes = api::stringsAt(q, "spec.scopes");
    // Resources the quota limits must be asked for by every container.
    if (type.kind == "Pod" && !finished(object) && inScopes(askOf(object), scopes)) {
      std::vector<std::string> missing;
      PodAsk a = askOf(object);
      for (const auto& [key, limit] : hard) {
        std::string res = key == "cpu" || key == "memory" ? key : key.starts_with("requests.") || key.starts_with("limits.") ? key.substr(key.find('.') + 1) : "";
        if (res.empty() || res == "storage") continue;
        bool isLimit = key.starts_with("limits.");
        std::vector<std::string> without;
        for (const auto& [cname, rl] : a.containers)
          if (!(isLimit ? rl.second : rl.first).count(res)) without.push_back(cname);
        if (!without.empty()) missing.push_back("must specify " + key + " for: " + joined(without));
      }
      if (!missing.empty()) {
        std::string msg;
        for (size_t i = 0; i < missing.size(); ++i) msg += (i ? "; " : "") + missing[i];
        return Error::forbidden(type.plural + " \"" + name + "\" is forbidden: failed quota: " + qname + ": " + msg);
      }
    }
    std::vector<std::string> requested, used, limited;
    bool over = false;
    std::map<std::string, int64_t> adds;
    for (const auto& [key, limit] : hard) {
      int64_t add = contribution(key, type, object, scopes);
      if (add) adds[key] = add;
    }
    if (adds.empty()) continue;
    Amounts hardAdded;
    for (const auto& [key, add] : adds) hardAdded[key] = hard[key];
    auto now = quotaUsage(hardAdded, scopes, [&](const api::ResourceType& t) { return view_.list(t, ns); });
    for (const auto& [key, add] : adds) {
      if (now[key] + add <= hard[key]) continue;
      over = true;
      requested.push_back(key + "=" + quotaAmount(key, add));
      used.push_back(key + "=" + quotaAmount(key, now[key]));
      limited.push_back(key + "=" + quotaAmount(key, hard[key]));
    }
    if (over)
      return Error::forbidden(type.plural + " \"" + name + "\" is forbidden: exceeded quota: " + qname + ", requested: " + joined(requested) +
                              ", used: " + joined(used) + ", limited: " + joined(limited));
  }
  return {};
}

}  // namespace skiff::apiserver
