#include "gitops/application.h"

#include <algorithm>

#include <boost/json.hpp>

#include "api/object.h"

namespace skiff::gitops {
namespace json = boost::json;
namespace {

bool boolAt(const json::value& v, std::string_view path) {
  const json::value* b = api::valueAt(v, path);
  return b && b->is_bool() && b->get_bool();
}

Result<std::vector<std::string>> stringList(const json::value& v, std::string_view path, const std::string& field) {
  std::vector<std::string> out;
  const json::value* list = api::valueAt(v, path);
  if (!list || list->is_null()) return out;
  if (!list->is_array()) return Error::invalid(field + " must be a list of strings");
  for (const auto& item : list->get_array()) {
    if (!item.is_string()) return Error::invalid(field + " must be a list of strings");
    out.emplace_back(item.get_string());
  }
  return out;
}

Result<HelmSource> parseHelm(const json::value& helm, const std::string& field) {
  HelmSource h;
  h.releaseName = api::stringAt(helm, "releaseName");
  auto files = stringList(helm, "valueFiles", field + ".valueFiles");
  if (!files) return files.error();
  h.valueFiles = std::move(*files);
  h.values = api::stringAt(helm, "values");
  if (const json::value* obj = api::valueAt(helm, "valuesObject"); obj && !obj->is_null()) {
    if (!obj->is_object()) return Error::invalid(field + ".valuesObject must be a map");
    h.valuesObject = *obj;
  }
  if (const json::value* params = api::valueAt(helm, "parameters"); params && params->is_array())
    for (const auto& p : params->get_array()) {
      if (api::stringAt(p, "name").empty()) return Error::invalid(field + ".parameters: every parameter needs a name");
      h.parameters.push_back({api::stringAt(p, "name"), api::stringAt(p, "value"), boolAt(p, "forceString")});
    }
  return h;
}

Result<KustomizeSource> parseKustomize(const json::value& k, const std::string& field) {
  KustomizeSource out;
  out.namePrefix = api::stringAt(k, "namePrefix");
  out.nameSuffix = api::stringAt(k, "nameSuffix");
  auto images = stringList(k, "images", field + ".images");
  if (!images) return images.error();
  out.images = std::move(*images);
  if (const json::value* labels = api::valueAt(k, "commonLabels"); labels && labels->is_object())
    for (const auto& kv : labels->get_object())
      out.commonLabels.emplace_back(std::string(kv.key()), kv.value().is_string() ? std::string(kv.value().get_string()) : "");
  return out;
}

Result<Source> parseSource(const json::value& s, const std::string& field) {
  Source source;
  source.repoURL = api::stringAt(s, "repoURL");
  if (source.repoURL.empty()) return Error::invalid(field + ".repoURL is required");
  if (!api::stringAt(s, "chart").empty())
    return Error::invalid(field + ".chart: charts from Helm repositories are not fetched yet; keep the chart in Git and set " + field + ".path");
  if (std::string r = api::stringAt(s, "targetRevision"); !r.empty()) source.targetRevision = r;
  source.path = api::stringAt(s, "path");
  if (source.path.find("..") != std::string::npos) return Error::invalid(field + ".path must stay inside the repository (no \"..\")");
  if (const json::value* d = api::valueAt(s, "directory"); d && d->is_object())
    source.directory = DirectorySource{boolAt(*d, "recurse"), api::stringAt(*d, "include"), api::stringAt(*d, "exclude")};
  if (const json::value* h = api::valueAt(s, "helm"); h && h->is_object()) {
    auto helm = parseHelm(*h, field + ".helm");
    if (!helm) return helm.error();
    source.helm = std::move(*helm);
  }
  if (const json::value* k = api::valueAt(s, "kustomize"); k && k->is_object()) {
    auto kustomize = parseKustomize(*k, field + ".kustomize");
    if (!kustomize) return kustomize.error();
    source.kustomize = std::move(*kustomize);
  }
  for (const auto& vf : source.helm ? source.helm->valueFiles : std::vector<std::string>{})
    if (vf.starts_with("$")) return Error::invalid(field + ".helm.valueFiles: values from another source ($ref) are not supported yet");
  return source;
}

}  // namespace

Result<Application> parseApplication(const json::value& object) {
  Application app;
  app.name = api::stringAt(object, "metadata.name");
  app.ns = api::stringAt(object, "metadata.namespace");
  if (const json::value* s = api::valueAt(object, "spec.source"); s && s->is_object()) {
    auto source = parseSource(*s, "spec.source");
    if (!source) return source.error();
    app.sources.push_back(std::move(*source));
  } else if (const json::value* list = api::valueAt(object, "spec.sources"); list && list->is_array()) {
    for (size_t i = 0; i < list->get_array().size(); ++i) {
      const json::value& s = list->get_array()[i];
      // A source with only a ref lends files to the others; nothing is rendered from it.
      if (!api::stringAt(s, "ref").empty() && api::stringAt(s, "path").empty()) continue;
      auto source = parseSource(s, "spec.sources[" + std::to_string(i) + "]");
      if (!source) return source.error();
      app.sources.push_back(std::move(*source));
    }
  }
  if (app.sources.empty()) return Error::invalid("spec.source (or spec.sources) is required: the repository and path to deploy");
  std::string server = api::stringAt(object, "spec.destination.server");
  std::string clusterName = api::stringAt(object, "spec.destination.name");
  if (!server.empty() && server != "https://kubernetes.default.svc")
    return Error::invalid("spec.destination.server " + server + " is not this cluster: skiff deploys in-cluster only (https://kubernetes.default.svc)");
  if (!clusterName.empty() && clusterName != "in-cluster")
    return Error::invalid("spec.destination.name " + clusterName + " is not this cluster: skiff deploys in-cluster only (in-cluster)");
  app.destinationNamespace = api::stringAt(object, "spec.destination.namespace");
  if (const json::value* a = api::valueAt(object, "spec.syncPolicy.automated"); a && a->is_object()) {
    // Argo CD: an automated block is enabled unless `enabled: false`.
    const json::value* enabled = a->get_object().if_contains("enabled");
    app.syncPolicy.automated = !(enabled && enabled->is_bool() && !enabled->get_bool());
    app.syncPolicy.prune = boolAt(*a, "prune");
    app.syncPolicy.selfHeal = boolAt(*a, "selfHeal");
    app.syncPolicy.allowEmpty = boolAt(*a, "allowEmpty");
  }
  auto options = stringList(object, "spec.syncPolicy.syncOptions", "spec.syncPolicy.syncOptions");
  if (!options) return options.error();
  app.syncPolicy.createNamespace = std::find(options->begin(), options->end(), "CreateNamespace=true") != options->end();
  if (const json::value* limit = api::valueAt(object, "spec.revisionHistoryLimit"); limit && limit->is_int64())
    app.revisionHistoryLimit = std::max<int64_t>(1, limit->get_int64());
  if (const json::value* sync = api::valueAt(object, "operation.sync"); sync && sync->is_object())
    app.operation = SyncOperation{api::stringAt(*sync, "revision"), boolAt(*sync, "prune")};
  return app;
}

std::string normalizeRepoUrl(std::string url) {
  std::transform(url.begin(), url.end(), url.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  while (url.ends_with("/")) url.pop_back();
  if (url.ends_with(".git")) url.resize(url.size() - 4);
  return url;
}

}  // namespace skiff::gitops
