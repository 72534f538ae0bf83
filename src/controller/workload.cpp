#include "controller/workload.h"

#include <boost/json.hpp>
#include <cmath>
#include <ctime>

#include "api/object.h"

namespace skiff::controller {
namespace json = boost::json;

const json::value* controllerRef(const json::value& object) {
  const json::value* refs = api::valueAt(object, "metadata.ownerReferences");
  if (!refs || !refs->is_array()) return nullptr;
  for (const auto& r : refs->get_array())
    if (const json::value* c = api::valueAt(r, "controller"); c && c->is_bool() && c->get_bool()) return &r;
  return nullptr;
}

json::object makeControllerRef(const json::value& owner) {
  return json::object{{"apiVersion", api::stringAt(owner, "apiVersion")}, {"kind", api::stringAt(owner, "kind")},
                      {"name", api::stringAt(owner, "metadata.name")}, {"uid", api::stringAt(owner, "metadata.uid")},
                      {"controller", true}, {"blockOwnerDeletion", true}};
}

namespace {
const json::value* podReadyCondition(const json::value& pod) {
  const json::value* conds = api::valueAt(pod, "status.conditions");
  if (!conds || !conds->is_array()) return nullptr;
  for (const auto& c : conds->get_array())
    if (api::stringAt(c, "type") == "Ready") return &c;
  return nullptr;
}
}  // namespace

bool isPodReady(const json::value& pod) {
  const json::value* c = podReadyCondition(pod);
  return c && api::stringAt(*c, "status") == "True";
}

bool isPodAvailable(const json::value& pod, int64_t minReadySeconds, int64_t now) {
  const json::value* c = podReadyCondition(pod);
  if (!c || api::stringAt(*c, "status") != "True") return false;
  if (minReadySeconds <= 0) return true;
  int64_t since = api::parseRfc3339(api::stringAt(*c, "lastTransitionTime"));
  return since >= 0 && now - since >= minReadySeconds;
}

bool isPodActive(const json::value& pod) {
  if (api::valueAt(pod, "metadata.deletionTimestamp")) return false;
  std::string phase = api::stringAt(pod, "status.phase");
  return phase != "Succeeded" && phase != "Failed";
}

int64_t intAt(const json::value& object, const char* path, int64_t fallback) {
  const json::value* v = api::valueAt(object, path);
  if (v && v->is_int64()) return v->get_int64();
  if (v && v->is_uint64()) return int64_t(v->get_uint64());
  return fallback;
}

int64_t resolveIntOrPercent(const json::value* v, int64_t total, bool roundUp, int64_t fallback) {
  if (!v) return fallback;
  if (v->is_int64()) return v->get_int64();
  if (v->is_string()) {
    std::string s(v->get_string());
    if (!s.empty() && s.back() == '%') {
      double pct = std::atof(s.substr(0, s.size() - 1).c_str());
      double x = pct * double(total) / 100.0;
      return int64_t(roundUp ? std::ceil(x) : std::floor(x));
    }
    return std::atoll(s.c_str());
  }
  return fallback;
}

std::string templateHash(const json::value& templ, int64_t collisionCount) {
  std::string text = json::serialize(templ) + (collisionCount ? std::to_string(collisionCount) : "");
  uint32_t h = 2166136261u;  // FNV-1a
  for (unsigned char c : text) {
    h ^= c;
    h *= 16777619u;
  }
  // Kubernetes' "safe" alphabet: no vowels, so hashes never spell words.
  static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  std::string digits = std::to_string(h), out;
  for (char d : digits) out += alphabet[(unsigned char)d % (sizeof alphabet - 1)];
  return out;
}

int64_t nowSeconds() { return int64_t(std::time(nullptr)); }

std::string controllerKey(const json::value& object, const char* kind) {
  const json::value* ref = controllerRef(object);
  if (!ref || api::stringAt(*ref, "kind") != kind) return "";
  return api::stringAt(object, "metadata.namespace") + "/" + api::stringAt(*ref, "name");
}

bool sameStatus(const json::value* current, const json::value& next) {
  if (!current) return false;
  auto strip = [](json::value v) {
    if (auto* conds = v.is_object() ? v.get_object().if_contains("conditions") : nullptr; conds && conds->is_array())
      for (auto& c : conds->get_array())
        if (c.is_object())
          for (const char* f : {"lastUpdateTime", "lastTransitionTime", "lastProbeTime"}) c.get_object().erase(f);
    return v;
  };
  return strip(*current) == strip(next);
}

}  // namespace skiff::controller
