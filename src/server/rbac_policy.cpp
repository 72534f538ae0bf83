#include "server/rbac_policy.h"

#include <boost/json.hpp>

#include "api/object.h"
#include "api/resources.h"
#include "auth/rbac_bindings.h"
#include "auth/rbac_defaults.h"
#include "auth/rbac_rules.h"
#include "common/log.h"

namespace skiff::server {
namespace json = boost::json;

namespace {
bool autoUpdates(const json::value& existing) {
  const json::value* annotations = api::valueAt(existing, "metadata.annotations");
  const json::value* v = annotations && annotations->is_object() ? annotations->get_object().if_contains("rbac.authorization.kubernetes.io/autoupdate") : nullptr;
  return !(v && v->is_string() && v->get_string() == "false");
}

json::value* member(json::value& object, const char* key) { return object.as_object().if_contains(key); }

// The existing role with the default's missing rules appended (and its aggregation rule put
// back); nullopt when nothing is missing.
std::optional<json::value> reconcileRole(const json::value& existing, const json::value& wanted) {
  json::value next = existing;
  bool changed = false;
  if (const json::value* agg = api::valueAt(wanted, "aggregationRule")) {
    const json::value* have = api::valueAt(existing, "aggregationRule");
    if (!have || *have != *agg) {
      next.as_object()["aggregationRule"] = *agg;
      changed = true;
    }
  }
  auto have = auth::parsePolicyRules(api::valueAt(existing, "rules"), "rules", false);
  const json::value* wantedRules = api::valueAt(wanted, "rules");
  if (have && wantedRules && wantedRules->is_array() && !api::valueAt(wanted, "aggregationRule")) {
    json::value* rules = member(next, "rules");
    if (!rules || !rules->is_array()) rules = &(next.as_object()["rules"] = json::array());
    for (const auto& rule : wantedRules->get_array()) {
      json::value single = json::array{rule};
      auto one = auth::parsePolicyRules(&single, "rules", false);
      if (one && !auth::uncoveredRules(*have, *one).empty()) {
        rules->as_array().push_back(rule);
        changed = true;
      }
    }
  }
  if (!changed) return std::nullopt;
  return next;
}

std::optional<json::value> reconcileBinding(const json::value& existing, const json::value& wanted) {
  json::value next = existing;
  json::value* subjects = member(next, "subjects");
  if (!subjects || !subjects->is_array()) subjects = &(next.as_object()["subjects"] = json::array());
  bool changed = false;
  if (const json::value* want = api::valueAt(wanted, "subjects"); want && want->is_array())
    for (const auto& s : want->get_array()) {
      bool present = false;
      for (const auto& h : subjects->get_array())
        present = present || (api::stringAt(h, "kind") == api::stringAt(s, "kind") && api::stringAt(h, "name") == api::stringAt(s, "name"));
      if (!present) {
        subjects->as_array().push_back(s);
        changed = true;
      }
    }
  if (!changed) return std::nullopt;
  return next;
}

Status ensureAll(client::Client& client, const api::ResourceType& type, const std::vector<json::value>& defaults, bool roles) {
  for (const auto& wanted : defaults) {
    std::string name = api::stringAt(wanted, "metadata.name");
    auto existing = client.get(type, "", name);
    if (!existing) {
      if (existing.error().code != 404) return existing.error();
      auto created = client.create(type, "", wanted);
      if (!created && created.error().reason != "AlreadyExists") return created.error();
      continue;
    }
    if (!autoUpdates(*existing)) continue;
    auto next = roles ? reconcileRole(*existing, wanted) : reconcileBinding(*existing, wanted);
    if (!next) continue;
    log::info("rbac", "restoring the default " + type.kind + " " + name + " (set the annotation rbac.authorization.kubernetes.io/autoupdate=false to keep it changed)");
    auto updated = client.update(type, "", name, std::move(*next), "");
    if (!updated && updated.error().reason != "Conflict") return updated.error();
  }
  return {};
}
}  // namespace

Status ensureDefaultRbac(client::Client& client) {
  if (Status s = ensureAll(client, *api::findByKind("rbac.authorization.k8s.io/v1", "ClusterRole"), auth::defaultClusterRoles(), true); !s)
    return s;
  return ensureAll(client, *api::findByKind("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"), auth::defaultClusterRoleBindings(), false);
}

Status RbacPolicy::start() {
  if (Status s = ensureDefaultRbac(client_); !s) log::warn("rbac", "cannot ensure the default roles and bindings: " + s.error().message);
  const std::pair<const char*, auth::RbacKind> kinds[] = {{"Role", auth::RbacKind::Role},
                                                           {"ClusterRole", auth::RbacKind::ClusterRole},
                                                           {"RoleBinding", auth::RbacKind::RoleBinding},
                                                           {"ClusterRoleBinding", auth::RbacKind::ClusterRoleBinding}};
  for (const auto& [kind, rbacKind] : kinds) {
    auto informer = std::make_unique<client::Informer>(client_, *api::findByKind("rbac.authorization.k8s.io/v1", kind));
    informer->addHandler([this, k = rbacKind](const std::string& type, const client::ObjectPtr& object, const client::ObjectPtr&) {
      authorizer_.set(k, api::stringAt(*object, "metadata.namespace"), api::stringAt(*object, "metadata.name"),
                      type == "DELETED" ? nullptr : object.get());
    });
    if (Status s = informer->start(); !s) return s;
    informers_.push_back(std::move(informer));
  }
  return {};
}

void RbacPolicy::stop() {
  for (auto& i : informers_) i->stop();
}

}  // namespace skiff::server
