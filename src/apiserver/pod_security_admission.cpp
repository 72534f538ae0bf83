#include "apiserver/pod_security_admission.h"

#include <map>

#include <boost/json.hpp>

#include "api/object.h"
#include "api/pod_security.h"

namespace skiff::apiserver {
namespace json = boost::json;
namespace pss = api::podsecurity;

namespace {

// The pod template a workload kind carries (metadata and spec), or nulls.
std::pair<const json::value*, const json::value*> templateOf(const api::ResourceType& type, const json::value& object) {
  const json::value* t = nullptr;
  if (type.builtin("CronJob")) t = api::valueAt(object, "spec.jobTemplate.spec.template");
  else if (type.builtin("PodTemplate")) t = api::valueAt(object, "template");
  else if (type.builtin("Deployment") || type.builtin("ReplicaSet") || type.builtin("StatefulSet") || type.builtin("DaemonSet") ||
           type.builtin("Job") || type.builtin("ReplicationController"))
    t = api::valueAt(object, "spec.template");
  if (!t) return {nullptr, nullptr};
  return {api::valueAt(*t, "metadata"), api::valueAt(*t, "spec")};
}

pss::PodSecurityView podView(const json::value& pod) { return pss::viewOf(api::valueAt(pod, "metadata"), api::valueAt(pod, "spec")); }

}  // namespace

Status PodSecurityAdmission::admit(const api::ResourceType& type, const std::string& ns, const json::value& object, const json::value* old,
                                   const std::string& subresource, std::vector<std::string>* warnings) const {
  if (type.custom) return {};
  if (type.builtin("Namespace")) return subresource.empty() ? admitNamespace(object, old, warnings) : Status{};
  if (type.builtin("Pod")) {
    if (!subresource.empty() && subresource != "ephemeralcontainers") return {};
    return admitPod(ns, object, old, warnings);
  }
  if (subresource.empty()) warnTemplate(type, ns, object, old, warnings);
  return {};
}

Status PodSecurityAdmission::admitPod(const std::string& ns, const json::value& pod, const json::value* old,
                                      std::vector<std::string>* warnings) const {
  auto view = podView(pod);
  if (old && podView(*old) == view) return {};  // nothing the checks read changed (labels, image, status, ...)
  auto nsObject = view_.getNamespace(ns);
  if (!nsObject) return {};
  auto policy = pss::policyOf(*nsObject);
  if (!policy) return {};  // labels were checked when they were written
  if (auto v = pss::check(policy->enforce.level, view); !v.empty())
    return Error{403, "Forbidden",
                 "pods \"" + api::stringAt(pod, "metadata.name") + "\" is forbidden: violates PodSecurity \"" + policy->enforce.text() +
                     "\": " + pss::describe(v),
                 {}};
  if (warnings)
    if (auto v = pss::check(policy->warn.level, view); !v.empty())
      warnings->push_back("would violate PodSecurity \"" + policy->warn.text() + "\": " + pss::describe(v));
  return {};
}

void PodSecurityAdmission::warnTemplate(const api::ResourceType& type, const std::string& ns, const json::value& object, const json::value* old,
                                        std::vector<std::string>* warnings) const {
  if (!warnings) return;
  auto [meta, spec] = templateOf(type, object);
  if (!spec) return;
  auto view = pss::viewOf(meta, spec);
  if (old) {
    auto [oldMeta, oldSpec] = templateOf(type, *old);
    if (oldSpec && pss::viewOf(oldMeta, oldSpec) == view) return;
  }
  auto nsObject = view_.getNamespace(ns);
  if (!nsObject) return;
  auto policy = pss::policyOf(*nsObject);
  if (!policy) return;
  // Kubernetes warns about a workload for the stricter of enforce and warn.
  const pss::LevelVersion& level = policy->enforce.level >= policy->warn.level ? policy->enforce : policy->warn;
  if (auto v = pss::check(level.level, view); !v.empty())
    warnings->push_back("would violate PodSecurity \"" + level.text() + "\": " + pss::describe(v));
}

Status PodSecurityAdmission::admitNamespace(const json::value& ns, const json::value* old, std::vector<std::string>* warnings) const {
  auto policy = pss::policyOf(ns);
  if (!policy) {
    Error e = policy.error();
    e.message = "namespaces \"" + api::stringAt(ns, "metadata.name") + "\" is invalid: " + e.message;
    return e;
  }
  if (!warnings || !old || policy->enforce.level == pss::Level::Privileged) return {};
  auto before = pss::policyOf(*old);
  if (before && before->enforce.level == policy->enforce.level && before->enforce.version == policy->enforce.version) return {};
  // As Kubernetes: say which existing pods the new enforce level would refuse, grouped by the
  // checks they fail ("web-1 (and 2 other pods): runAsNonRoot != true").
  std::string name = api::stringAt(ns, "metadata.name");
  std::map<std::string, std::vector<std::string>> byReasons;
  std::vector<std::string> order;
  for (const auto& pod : view_.listPods(name)) {
    auto v = pss::check(policy->enforce.level, podView(pod));
    if (v.empty()) continue;
    std::string r = pss::reasons(v);
    if (!byReasons.count(r)) order.push_back(r);
    byReasons[r].push_back(api::stringAt(pod, "metadata.name"));
  }
  if (order.empty()) return {};
  warnings->push_back("existing pods in namespace \"" + name + "\" violate the new PodSecurity enforce level \"" + policy->enforce.text() + "\"");
  for (const auto& r : order) {
    const auto& pods = byReasons[r];
    std::string who = pods.front();
    if (pods.size() > 1) who += " (and " + std::to_string(pods.size() - 1) + " other pod" + (pods.size() > 2 ? "s" : "") + ")";
    warnings->push_back(who + ": " + r);
  }
  return {};
}

}  // namespace skiff::apiserver
