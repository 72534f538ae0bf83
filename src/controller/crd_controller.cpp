#include "controller/crd_controller.h"

#include <boost/json.hpp>

#include "api/custom_resource_definition.h"
#include "api/object.h"
#include "common/log.h"

namespace skiff::controller {
namespace json = boost::json;
namespace {

const api::ResourceType& crdType() { return *api::findByKind("apiextensions.k8s.io/v1", "CustomResourceDefinition"); }

// A condition; its lastTransitionTime is kept from `old` when its status did not change.
json::object condition(const json::value& crd, const std::string& type, const std::string& status, const std::string& reason,
                       const std::string& message) {
  std::string since = api::rfc3339Now();
  if (const json::value* cs = api::valueAt(crd, "status.conditions"); cs && cs->is_array())
    for (const auto& c : cs->get_array())
      if (api::stringAt(c, "type") == type && api::stringAt(c, "status") == status) since = api::stringAt(c, "lastTransitionTime");
  return json::object{{"type", type}, {"status", status}, {"lastTransitionTime", since}, {"reason", reason}, {"message", message}};
}

std::vector<std::string> finalizersOf(const json::value& obj) {
  std::vector<std::string> out;
  if (const json::value* f = api::valueAt(obj, "metadata.finalizers"); f && f->is_array())
    for (const auto& x : f->get_array())
      if (x.is_string()) out.emplace_back(x.get_string());
  return out;
}

}  // namespace

CustomResourceDefinitionController::CustomResourceDefinitionController(client::Client& client, apiserver::CustomResources& catalog)
    : client_(client),
      catalog_(catalog),
      informer_(client, crdType()),
      loop_("crd-controller", [this](const std::string& key) { return reconcile(key); }) {
  informer_.addHandler([this](const std::string&, const client::ObjectPtr& crd, const client::ObjectPtr&) {
    loop_.queue().add(api::stringAt(*crd, "metadata.name"));
  });
}

Status CustomResourceDefinitionController::start() {
  if (Status s = informer_.start(); !s) return s;
  if (!informer_.waitForSync(std::chrono::seconds(30))) return Error::unavailable("the CustomResourceDefinitions could not be listed");
  for (const auto& crd : informer_.list())
    if (auto r = reconcile(api::stringAt(*crd, "metadata.name")); !r)
      log::warn("crd-controller", api::stringAt(*crd, "metadata.name") + ": " + r.error().message + " (will retry)");
  loop_.start(1);
  return {};
}

void CustomResourceDefinitionController::stop() {
  loop_.stop();
  informer_.stop();
}

Result<Requeue> CustomResourceDefinitionController::reconcile(const std::string& name) {
  client::ObjectPtr crd = informer_.get("", name);
  if (!crd) {
    catalog_.withdraw(name);
    return Requeue::done();
  }
  if (api::valueAt(*crd, "metadata.deletionTimestamp")) return cleanUp(crd);
  return establish(crd);
}

Result<Requeue> CustomResourceDefinitionController::establish(const client::ObjectPtr& crd) {
  const std::string name = api::stringAt(*crd, "metadata.name");
  auto types = api::customResourceTypes(*crd);
  if (!types) {  // stored before a rule tightened, or written around validation: say why, serve nothing
    catalog_.withdraw(name);
    json::object status{{"conditions", json::array{condition(*crd, "Established", "False", "Invalid", types.error().message)}}};
    if (Status s = writeStatus(crd, std::move(status)); !s) return s.error();
    return Requeue::done();
  }
  const api::ResourceType& storage = types->versions[types->storage];
  std::string conflict = catalog_.conflictWith(name, storage.group, storage.plural, storage.singular, storage.kind);
  // Names another definition has accepted stay its own, whichever of the two is looked at first
  // (after a restart both are reconciled again).
  for (const auto& other : informer_.list()) {
    if (!conflict.empty()) break;
    std::string otherName = api::stringAt(*other, "metadata.name");
    if (otherName == name || api::stringAt(*other, "spec.group") != storage.group) continue;
    std::string plural = api::stringAt(*other, "status.acceptedNames.plural"), kind = api::stringAt(*other, "status.acceptedNames.kind"),
                singular = api::stringAt(*other, "status.acceptedNames.singular");
    if ((!plural.empty() && (plural == storage.plural || plural == storage.singular)) || (!kind.empty() && kind == storage.kind) ||
        (!singular.empty() && (singular == storage.singular || singular == storage.plural)))
      conflict = otherName;
  }
  json::array conditions;
  if (!conflict.empty()) {
    catalog_.withdraw(name);
    conditions.push_back(condition(*crd, "NamesAccepted", "False", "NameConflict",
                                   "\"" + storage.plural + "\" or kind \"" + storage.kind + "\" is already in use by " + conflict));
    conditions.push_back(condition(*crd, "Established", "False", "NotAccepted", "not all names are accepted"));
  } else {
    std::vector<std::string> finalizers = finalizersOf(*crd);
    if (std::find(finalizers.begin(), finalizers.end(), api::kCustomResourceCleanupFinalizer) == finalizers.end()) {
      finalizers.push_back(api::kCustomResourceCleanupFinalizer);
      auto r = client_.patch(crdType(), "", name, client::PatchType::Merge,
                             json::object{{"metadata", json::object{{"finalizers", api::stringArray(finalizers)},
                                                                    {"resourceVersion", api::stringAt(*crd, "metadata.resourceVersion")}}}},
                             "");
      if (!r) return r.error().code == 404 || r.error().code == 409 ? Result<Requeue>(Requeue::done()) : Result<Requeue>(r.error());
    }
    int64_t generation = 0;
    if (const json::value* g = api::valueAt(*crd, "metadata.generation"); g && g->is_int64()) generation = g->get_int64();
    if (catalog_.publishedGeneration(name) != generation) {
      catalog_.publish(name, generation, types->versions, types->served, types->storage);
      log::info("crd-controller", "serving " + storage.plural + "." + storage.group + " (" + storage.kind + ")");
    }
    conditions.push_back(condition(*crd, "NamesAccepted", "True", "NoConflicts", "no conflicts found"));
    conditions.push_back(condition(*crd, "Established", "True", "InitialNamesAccepted", "the initial names have been accepted"));
  }
  if (!types->unevaluatedRules.empty()) {
    std::string paths;
    for (const auto& r : types->unevaluatedRules) paths += (paths.empty() ? "" : ", ") + r;
    conditions.push_back(condition(*crd, "ValidationRulesEvaluated", "False", "CELNotSupported",
                                   "skiff does not evaluate x-kubernetes-validations (CEL) rules, so these are not enforced: " + paths));
  }
  json::object accepted{{"plural", storage.plural}, {"singular", storage.singular}, {"kind", storage.kind},
                        {"listKind", api::stringAt(*crd, "spec.names.listKind")}};
  if (!storage.shortNames.empty()) accepted["shortNames"] = api::stringArray(storage.shortNames);
  if (!storage.categories.empty()) accepted["categories"] = api::stringArray(storage.categories);
  std::vector<std::string> stored;
  if (const json::value* sv = api::valueAt(*crd, "status.storedVersions"); sv && sv->is_array())
    for (const auto& v : sv->get_array())
      if (v.is_string()) stored.emplace_back(v.get_string());
  if (std::find(stored.begin(), stored.end(), storage.version) == stored.end()) stored.push_back(storage.version);
  json::object status{{"conditions", std::move(conditions)}, {"storedVersions", api::stringArray(stored)}};
  if (conflict.empty()) status["acceptedNames"] = std::move(accepted);
  if (Status s = writeStatus(crd, std::move(status)); !s) return s.error();
  return Requeue::done();
}

Result<Requeue> CustomResourceDefinitionController::cleanUp(const client::ObjectPtr& crd) {
  const std::string name = api::stringAt(*crd, "metadata.name");
  std::vector<std::string> finalizers = finalizersOf(*crd);
  auto ours = std::find(finalizers.begin(), finalizers.end(), api::kCustomResourceCleanupFinalizer);
  if (ours == finalizers.end()) return Requeue::done();  // nothing of ours holds it: the registry deletes it
  if (const api::ResourceType* type = catalog_.storageType(name)) {
    catalog_.setTerminating(name);
    json::object status = api::valueAt(*crd, "status") && api::valueAt(*crd, "status")->is_object()
                              ? api::valueAt(*crd, "status")->get_object()
                              : json::object();
    json::array conditions;
    if (const json::value* cs = api::valueAt(*crd, "status.conditions"); cs && cs->is_array())
      for (const auto& c : cs->get_array())
        if (api::stringAt(c, "type") != "Terminating") conditions.push_back(c);
    conditions.push_back(condition(*crd, "Terminating", "True", "InstanceDeletionInProgress", "CustomResource deletion is in progress"));
    status["conditions"] = std::move(conditions);
    if (Status s = writeStatus(crd, std::move(status)); !s) return s.error();
    auto list = client_.list(*type, "", {});
    if (!list) return list.error();
    for (const auto& item : list->items) {
      if (api::valueAt(item, "metadata.deletionTimestamp")) continue;
      auto removed = client_.remove(*type, api::stringAt(item, "metadata.namespace"), api::stringAt(item, "metadata.name"));
      if (!removed && removed.error().code != 404) return removed.error();
    }
    // Objects held by their own finalizers go when those are done; look again until none is left.
    if (!list->items.empty()) return Requeue::in(std::chrono::seconds(1));
  }
  catalog_.withdraw(name);
  finalizers.erase(ours);
  auto r = client_.patch(crdType(), "", name, client::PatchType::Merge,
                         json::object{{"metadata", json::object{{"finalizers", api::stringArray(finalizers)}}}}, "");
  if (!r && r.error().code != 404) return r.error();
  log::info("crd-controller", "deleted " + name + " and every object of its kind");
  return Requeue::done();
}

Status CustomResourceDefinitionController::writeStatus(const client::ObjectPtr& crd, json::object status) {
  const json::value* have = api::valueAt(*crd, "status");
  if (have && *have == json::value(status)) return {};
  auto r = client_.patch(crdType(), "", api::stringAt(*crd, "metadata.name"), client::PatchType::Merge, json::object{{"status", std::move(status)}},
                         "status");
  if (!r && r.error().code != 404) return r.error();
  return {};
}

}  // namespace skiff::controller
