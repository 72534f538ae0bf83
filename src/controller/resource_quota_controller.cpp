#include "controller/resource_quota_controller.h"

#include <boost/json.hpp>

#include "api/object.h"
#include "api/resources.h"
#include "apiserver/quota_admission.h"

namespace skiff::controller {
namespace json = boost::json;

ResourceQuotaController::ResourceQuotaController(client::Client& client, client::Informer& quotas, client::Informer& pods)
    : client_(client),
      quotas_(quotas),
      pods_(pods),
      loop_("resourcequota-controller", [this](const std::string& ns) { return reconcile(ns); }) {
  quotas_.addHandler([this](const std::string&, const client::ObjectPtr& q, const client::ObjectPtr&) {
    loop_.queue().add(api::stringAt(*q, "metadata.namespace"));
  });
  pods_.addHandler([this](const std::string&, const client::ObjectPtr& o, const client::ObjectPtr&) {
    std::string ns = api::stringAt(*o, "metadata.namespace");
    if (!quotas_.list(ns).empty()) loop_.queue().add(ns);
  });
}

Result<Requeue> ResourceQuotaController::reconcile(const std::string& ns) {
  auto list = [&](const api::ResourceType& type) {
    std::vector<json::value> out;
    if (type.builtin("Pod")) {
      for (const auto& o : pods_.list(ns)) out.push_back(*o);
    } else if (auto items = client_.list(type, ns, {})) {
      out = std::move(items->items);
    }
    return out;
  };
  auto quotas = quotas_.list(ns);
  if (quotas.empty()) return Requeue::done();
  for (const auto& q : quotas) {
    auto hard = apiserver::hardOf(*q);
    auto used = apiserver::quotaUsage(hard, api::stringsAt(*q, "spec.scopes"), list);
    json::object hardJson, usedJson;
    for (const auto& [k, v] : hard) hardJson[k] = apiserver::quotaAmount(k, v);
    for (const auto& [k, v] : used) usedJson[k] = apiserver::quotaAmount(k, v);
    json::value status = json::object{{"hard", hardJson}, {"used", usedJson}};
    const json::value* current = api::valueAt(*q, "status");
    if (current && *current == status) continue;
    json::value next = *q;
    next.as_object()["status"] = std::move(status);
    auto r = client_.update(*api::findByKind("v1", "ResourceQuota"), ns, api::stringAt(*q, "metadata.name"), std::move(next), "status");
    if (!r && r.error().code != 404) return r.error();
  }
  return Requeue::in(std::chrono::seconds(15));
}

}  // namespace skiff::controller
