// Turns one Application source, checked out on disk, into the objects it declares — as Argo CD's
// repo-server does: a Helm chart (Chart.yaml, or a helm block), a kustomization
// (kustomization.yaml, or a kustomize block), else a directory of .yaml/.yml/.json manifests.
//
// Pure file-system work, no cluster and no network. A manifest that does not parse is reported
// by file and the others are still returned, so one bad file does not hold back the rest.
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "common/result.h"
#include "gitops/application.h"

namespace skiff::gitops {

struct RenderedObject {
  std::string source;  // file (or chart template) it came from, relative to the checkout
  boost::json::value object;
};

struct Rendering {
  std::string type;  // Directory, Helm, Kustomize (Argo CD's status.sourceType)
  std::vector<RenderedObject> objects;
  std::vector<std::string> errors;  // "file: why", one per manifest that could not be used
};

struct RenderContext {
  std::string appName;
  std::string destinationNamespace;
};

// `checkout` is the repository's root (kustomize bases may sit outside the source's path); the
// source's path is taken from `source`. A whole-source failure (no such path, a chart that does
// not render, a kustomization that does not build) is an error; the kustomization file in the
// checkout is rewritten when the source sets kustomize options.
Result<Rendering> renderSource(const std::filesystem::path& checkout, const Source& source, const RenderContext& context);

// Readies a rendered object for the cluster as Argo CD does: a namespaced object without a
// namespace goes to the destination's ("default" when none), a cluster-scoped one loses any
// namespace, and the tracking label names the Application. `namespaced` is unknown (nullopt)
// for a kind the server does not serve (yet).
void placeObject(boost::json::value& object, std::optional<bool> namespaced, const Application& app);

// Argo CD's directory include/exclude: glob patterns matched against the path relative to the
// source's path, with `{a,b}` alternatives; `*` crosses directories.
bool matchesGlob(const std::string& pattern, const std::string& relativePath);

}  // namespace skiff::gitops
