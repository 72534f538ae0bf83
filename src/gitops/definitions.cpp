#include "gitops/definitions.h"

#include <boost/json.hpp>

#include "api/codec.h"
#include "api/object.h"
#include "api/resources.h"

namespace skiff::gitops {
namespace json = boost::json;
namespace {

// Argo CD's field names and types (manifests/crds/application-crd.yaml upstream); only what
// skiff reads is spelled out, everything else is preserved as written.
constexpr const char* kSourceSchema = R"(
                type: object
                x-kubernetes-preserve-unknown-fields: true
                required: [repoURL]
                properties:
                  repoURL: {type: string}
                  targetRevision: {type: string}
                  path: {type: string}
                  chart: {type: string}
                  ref: {type: string}
                  directory:
                    type: object
                    x-kubernetes-preserve-unknown-fields: true
                    properties:
                      recurse: {type: boolean}
                      include: {type: string}
                      exclude: {type: string}
                  helm:
                    type: object
                    x-kubernetes-preserve-unknown-fields: true
                    properties:
                      releaseName: {type: string}
                      valueFiles: {type: array, items: {type: string}}
                      values: {type: string}
                      valuesObject: {type: object, x-kubernetes-preserve-unknown-fields: true}
                      parameters:
                        type: array
                        items:
                          type: object
                          properties:
                            name: {type: string}
                            value: {type: string}
                            forceString: {type: boolean}
                  kustomize:
                    type: object
                    x-kubernetes-preserve-unknown-fields: true
                    properties:
                      namePrefix: {type: string}
                      nameSuffix: {type: string}
                      images: {type: array, items: {type: string}}
                      commonLabels: {type: object, additionalProperties: {type: string}}
)";

std::string applicationDefinition() {
  std::string source = kSourceSchema;
  // The same source schema sits under spec.source (16 spaces) and spec.sources[] (20 spaces).
  std::string indented;
  for (size_t start = 0; start < source.size();) {
    size_t end = source.find('\n', start);
    std::string line = source.substr(start, end == std::string::npos ? std::string::npos : end - start);
    indented += (line.empty() ? "" : "    ") + line + "\n";
    start = end == std::string::npos ? source.size() : end + 1;
  }
  return std::string(R"(
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: applications.argoproj.io
  labels:
    app.kubernetes.io/name: applications.argoproj.io
    app.kubernetes.io/part-of: argocd
spec:
  group: argoproj.io
  names:
    kind: Application
    listKind: ApplicationList
    plural: applications
    singular: application
    shortNames: [app, apps]
  scope: Namespaced
  versions:
  - name: v1alpha1
    served: true
    storage: true
    additionalPrinterColumns:
    - {name: Sync Status, type: string, jsonPath: .status.sync.status}
    - {name: Health Status, type: string, jsonPath: .status.health.status}
    - {name: Revision, type: string, jsonPath: .status.sync.revision, priority: 10}
    - {name: Project, type: string, jsonPath: .spec.project, priority: 10}
    schema:
      openAPIV3Schema:
        type: object
        required: [metadata, spec]
        properties:
          operation: {type: object, x-kubernetes-preserve-unknown-fields: true}
          status: {type: object, x-kubernetes-preserve-unknown-fields: true}
          spec:
            type: object
            x-kubernetes-preserve-unknown-fields: true
            required: [destination, project]
            properties:
              project: {type: string}
              revisionHistoryLimit: {type: integer, format: int64}
              destination:
                type: object
                properties:
                  server: {type: string}
                  name: {type: string}
                  namespace: {type: string}
              source:)") +
         source + R"(
              sources:
                type: array
                items:)" +
         indented + R"(
              syncPolicy:
                type: object
                x-kubernetes-preserve-unknown-fields: true
                properties:
                  automated:
                    type: object
                    x-kubernetes-preserve-unknown-fields: true
                    properties:
                      prune: {type: boolean}
                      selfHeal: {type: boolean}
                      allowEmpty: {type: boolean}
                  syncOptions: {type: array, items: {type: string}}
                  retry: {type: object, x-kubernetes-preserve-unknown-fields: true}
    subresources: {}
)";
}

constexpr const char* kApplicationSetDefinition = R"(
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: applicationsets.argoproj.io
  labels:
    app.kubernetes.io/name: applicationsets.argoproj.io
    app.kubernetes.io/part-of: argocd
spec:
  group: argoproj.io
  names:
    kind: ApplicationSet
    listKind: ApplicationSetList
    plural: applicationsets
    singular: applicationset
    shortNames: [appset, appsets]
  scope: Namespaced
  versions:
  - name: v1alpha1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        required: [metadata, spec]
        properties:
          status: {type: object, x-kubernetes-preserve-unknown-fields: true}
          spec:
            type: object
            x-kubernetes-preserve-unknown-fields: true
            required: [generators, template]
            properties:
              generators:
                type: array
                items: {type: object, x-kubernetes-preserve-unknown-fields: true}
              template: {type: object, x-kubernetes-preserve-unknown-fields: true}
              goTemplate: {type: boolean}
    subresources:
      status: {}
)";

}  // namespace

std::vector<json::value> bundledDefinitions() {
  std::vector<json::value> out;
  for (const std::string& text : {applicationDefinition(), std::string(kApplicationSetDefinition)}) {
    auto docs = api::decodeManifests(text);
    // The texts are part of the binary: a parse failure is a build mistake, not input.
    if (!docs || docs->size() != 1) throw std::logic_error("bundled GitOps definition does not parse: " + (docs ? std::string("") : docs.error().message));
    out.push_back(std::move((*docs)[0]));
  }
  return out;
}

Status installDefinitions(client::Client& client) {
  const api::ResourceType& crdType = *api::findByKind("apiextensions.k8s.io/v1", "CustomResourceDefinition");
  for (json::value& definition : bundledDefinitions()) {
    std::string name = api::stringAt(definition, "metadata.name");
    auto existing = client.get(crdType, "", name);
    if (!existing) {
      if (existing.error().code != 404) return existing.error();
      if (auto created = client.create(crdType, "", definition); !created && created.error().code != 409)
        return Error{created.error().code, created.error().reason, "installing " + name + ": " + created.error().message, {}};
      continue;
    }
    const json::value* spec = api::valueAt(*existing, "spec");
    if (spec && *spec == definition.at("spec")) continue;
    definition.as_object()["metadata"].as_object()["resourceVersion"] = api::stringAt(*existing, "metadata.resourceVersion");
    if (auto updated = client.update(crdType, "", name, definition, ""); !updated)
      return Error{updated.error().code, updated.error().reason, "updating " + name + ": " + updated.error().message, {}};
  }
  return {};
}

}  // namespace skiff::gitops
