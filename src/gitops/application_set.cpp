#include "gitops/application_set.h"

#include <set>

#include <boost/json.hpp>

#include "api/object.h"
#include "helm/functions.h"
#include "helm/template.h"

namespace skiff::gitops {
namespace json = boost::json;
using controller::Requeue;

namespace {

constexpr const char* kFieldManager = "applicationset-controller";

// fasttemplate parameters: nested maps flattened with dots ({{values.env}}), scalars as text.
void flatten(const json::value& v, const std::string& prefix, std::map<std::string, std::string>& out) {
  if (v.is_object()) {
    for (const auto& kv : v.get_object()) flatten(kv.value(), prefix.empty() ? std::string(kv.key()) : prefix + "." + std::string(kv.key()), out);
    return;
  }
  if (v.is_string()) out[prefix] = std::string(v.get_string());
  else if (!v.is_null()) out[prefix] = json::serialize(v);
}

// Argo CD's default templating: {{ key }} replaced where the key is a parameter, left as written
// otherwise.
std::string fastTemplate(const std::string& text, const std::map<std::string, std::string>& params) {
  std::string out;
  size_t at = 0;
  while (true) {
    size_t open = text.find("{{", at);
    if (open == std::string::npos) break;
    size_t close = text.find("}}", open + 2);
    if (close == std::string::npos) break;
    std::string key = text.substr(open + 2, close - open - 2);
    while (!key.empty() && key.front() == ' ') key.erase(key.begin());
    while (!key.empty() && key.back() == ' ') key.pop_back();
    out += text.substr(at, open - at);
    auto it = params.find(key);
    out += it != params.end() ? it->second : text.substr(open, close + 2 - open);
    at = close + 2;
  }
  return out + text.substr(at);
}

struct Renderer {
  bool goTemplate = false;
  bool missingKeyError = false;
  json::value element;
  std::map<std::string, std::string> params;

  Result<std::string> render(const std::string& text) const {
    if (text.find("{{") == std::string::npos) return text;
    if (!goTemplate) return fastTemplate(text, params);
    helm::TemplateSet set;
    set.addFunctions(helm::sprigFunctions());
    set.setMissingKeyError(missingKeyError);
    if (Status s = set.parse("template", text); !s) return s.error();
    return set.execute("template", element);
  }

  Status renderAll(json::value& v) const {
    if (v.is_string()) {
      auto r = render(std::string(v.get_string()));
      if (!r) return r.error();
      v = *r;
    } else if (v.is_object()) {
      for (auto& kv : v.as_object())
        if (Status s = renderAll(kv.value()); !s) return s;
    } else if (v.is_array()) {
      for (auto& item : v.as_array())
        if (Status s = renderAll(item); !s) return s;
    }
    return {};
  }
};

}  // namespace

Result<std::vector<json::value>> generateApplications(const json::value& set) {
  const json::value* generators = api::valueAt(set, "spec.generators");
  const json::value* templ = api::valueAt(set, "spec.template");
  if (!generators || !generators->is_array() || generators->get_array().empty()) return Error::invalid("spec.generators: at least one generator is required");
  if (!templ || !templ->is_object()) return Error::invalid("spec.template is required");
  bool goTemplate = api::valueAt(set, "spec.goTemplate") && api::valueAt(set, "spec.goTemplate")->is_bool() && api::valueAt(set, "spec.goTemplate")->get_bool();
  bool missingKeyError = false;
  for (const auto& option : api::stringsAt(set, "spec.goTemplateOptions")) missingKeyError = missingKeyError || option == "missingkey=error";
  std::vector<json::value> out;
  std::set<std::string> names;
  for (size_t g = 0; g < generators->get_array().size(); ++g) {
    const json::value& generator = generators->get_array()[g];
    const json::value* list = api::valueAt(generator, "list");
    if (!list) {
      std::string kind = generator.is_object() && !generator.get_object().empty() ? std::string(generator.get_object().begin()->key()) : "?";
      return Error::invalid("spec.generators[" + std::to_string(g) + "]: the " + kind + " generator is not supported yet (skiff has the list generator)");
    }
    for (const auto& element : api::arrayAt(*list, "elements")) {
      Renderer r{goTemplate, missingKeyError, element, {}};
      flatten(element, "", r.params);
      json::value app = *templ;
      if (Status s = r.renderAll(app); !s) return Error::invalid("spec.template: " + s.error().message);
      std::string name = api::stringAt(app, "metadata.name");
      if (name.empty()) return Error::invalid("spec.template.metadata.name renders empty for element " + json::serialize(element));
      if (!names.insert(name).second) return Error::invalid("two elements generate the Application " + name);
      json::object& meta = api::metadataOf(app);
      meta["namespace"] = api::stringAt(set, "metadata.namespace");
      app.as_object()["apiVersion"] = "argoproj.io/v1alpha1";
      app.as_object()["kind"] = "Application";
      out.push_back(std::move(app));
    }
  }
  return out;
}

ApplicationSetController::ApplicationSetController(client::Client& client, std::function<std::vector<const api::ResourceType*>()> customKinds)
    : client_(client), customKinds_(std::move(customKinds)), loop_("applicationset-controller", [this](const std::string& key) { return reconcile(key); }) {}

ApplicationSetController::~ApplicationSetController() { stop(); }

const api::ResourceType* ApplicationSetController::customKind(const std::string& kind) const {
  for (const api::ResourceType* t : customKinds_())
    if (t->apiVersion() == "argoproj.io/v1alpha1" && t->kind == kind) return t;
  return nullptr;
}

Status ApplicationSetController::start() {
  setType_ = customKind("ApplicationSet");
  applicationType_ = customKind("Application");
  if (!setType_ || !applicationType_) return Error::unavailable("the argoproj.io/v1alpha1 kinds are not served: their definitions were not installed");
  sets_ = std::make_unique<client::Informer>(client_, *setType_);
  applications_ = std::make_unique<client::Informer>(client_, *applicationType_);
  sets_->addHandler([this](const std::string&, const client::ObjectPtr& set, const client::ObjectPtr&) { loop_.queue().add(client::keyOf(*set)); });
  // A generated Application changed or deleted by hand is put back.
  applications_->addHandler([this](const std::string&, const client::ObjectPtr& app, const client::ObjectPtr&) {
    for (const auto& ref : api::arrayAt(*app, "metadata.ownerReferences"))
      if (api::stringAt(ref, "kind") == "ApplicationSet") loop_.queue().add(api::stringAt(*app, "metadata.namespace") + "/" + api::stringAt(ref, "name"));
  });
  if (Status s = sets_->start(); !s) return s;
  if (Status s = applications_->start(); !s) return s;
  loop_.start(1);
  return {};
}

void ApplicationSetController::stop() {
  loop_.stop();
  if (applications_) applications_->stop();
  if (sets_) sets_->stop();
}

Result<Requeue> ApplicationSetController::reconcile(const std::string& key) {
  auto [ns, name] = client::splitKey(key);
  client::ObjectPtr set = sets_->get(ns, name);
  if (!set || api::valueAt(*set, "metadata.deletionTimestamp")) return Requeue::done();  // the garbage collector removes what it owned
  auto generated = generateApplications(*set);
  if (!generated) {
    if (Status s = writeStatus(set, "False", "ApplicationGenerationFromParamsError", generated.error().message, {}); !s) return s.error();
    return Requeue::done();
  }
  std::string uid = api::stringAt(*set, "metadata.uid");
  json::object owner{{"apiVersion", "argoproj.io/v1alpha1"}, {"kind", "ApplicationSet"}, {"name", name}, {"uid", uid},
                     {"controller", true}, {"blockOwnerDeletion", true}};
  api::WriteOptions write;
  write.fieldManager = kFieldManager;
  write.force = true;
  std::set<std::string> wanted;
  json::array resources;
  for (auto& app : *generated) {
    std::string appName = api::stringAt(app, "metadata.name");
    wanted.insert(appName);
    api::metadataOf(app)["ownerReferences"] = json::array{owner};
    auto applied = client_.patch(*applicationType_, ns, appName, api::PatchType::Apply, app, "", write);
    if (!applied) {
      if (Status s = writeStatus(set, "False", "ApplicationSetApplyError", "Application " + appName + ": " + applied.error().message, {}); !s) return s.error();
      return applied.error();
    }
    resources.push_back(json::object{{"group", "argoproj.io"}, {"version", "v1alpha1"}, {"kind", "Application"}, {"name", appName}, {"namespace", ns}});
  }
  for (const auto& existing : applications_->listByOwner(uid)) {
    std::string appName = api::stringAt(*existing, "metadata.name");
    if (wanted.count(appName)) continue;
    auto removed = client_.remove(*applicationType_, ns, appName);
    if (!removed && removed.error().code != 404) return removed.error();
  }
  if (Status s = writeStatus(set, "True", "ApplicationSetUpToDate", "All applications have been generated successfully", resources); !s) return s.error();
  return Requeue::done();
}

Status ApplicationSetController::writeStatus(const client::ObjectPtr& set, const std::string& status, const std::string& reason,
                                             const std::string& message, json::array resources) {
  json::object condition{{"type", "ResourcesUpToDate"}, {"status", status}, {"reason", reason}, {"message", message}};
  const json::value* old = api::valueAt(*set, "status");
  json::object next{{"conditions", json::array{condition}}, {"resources", resources}};
  if (old && old->is_object()) {  // unchanged but for the transition time: nothing to write
    json::value comparable = *old;
    json::value* conditions = comparable.as_object().if_contains("conditions");
    if (conditions && conditions->is_array())
      for (auto& c : conditions->as_array())
        if (c.is_object()) c.as_object().erase("lastTransitionTime");
    if (comparable == json::value(next)) return {};
  }
  condition["lastTransitionTime"] = api::rfc3339Now();
  next["conditions"] = json::array{condition};
  auto r = client_.patch(*setType_, api::stringAt(*set, "metadata.namespace"), api::stringAt(*set, "metadata.name"), api::PatchType::Merge,
                         json::object{{"status", next}}, "status");
  if (!r && r.error().code != 404) return r.error();
  return {};
}

}  // namespace skiff::gitops
