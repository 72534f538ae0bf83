// An Argo CD Application (argoproj.io/v1alpha1) as the GitOps controller reads it: parsed once,
// at the edge, into plain structs. Field names follow Argo CD's spec.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "common/result.h"

namespace skiff::gitops {

// The label Argo CD's default resource tracking puts on every object it applies.
inline constexpr const char* kTrackingLabel = "app.kubernetes.io/instance";
inline constexpr const char* kFieldManager = "argocd-controller";
inline constexpr const char* kSyncWaveAnnotation = "argocd.argoproj.io/sync-wave";
inline constexpr const char* kSyncOptionsAnnotation = "argocd.argoproj.io/sync-options";
inline constexpr const char* kRefreshAnnotation = "argocd.argoproj.io/refresh";
// Set on an Application: deleting it deletes what it deployed (Argo CD's cascading deletion).
inline constexpr const char* kResourcesFinalizer = "resources-finalizer.argocd.argoproj.io";

struct DirectorySource {
  bool recurse = false;
  std::string include, exclude;  // glob patterns, `{a,b}` alternatives allowed
};

struct HelmParameter {
  std::string name, value;
  bool forceString = false;
};

struct HelmSource {
  std::string releaseName;  // default: the Application's name
  std::vector<std::string> valueFiles;  // relative to the chart directory
  std::string values;                   // a YAML document
  boost::json::value valuesObject;      // null when absent
  std::vector<HelmParameter> parameters;
};

struct KustomizeSource {
  std::string namePrefix, nameSuffix;
  std::vector<std::string> images;  // "name=new:tag", "name:tag", "name@digest"
  std::vector<std::pair<std::string, std::string>> commonLabels;
};

struct Source {
  std::string repoURL;
  std::string targetRevision = "HEAD";
  std::string path;  // inside the repository; "" and "." are its root
  std::optional<DirectorySource> directory;
  std::optional<HelmSource> helm;
  std::optional<KustomizeSource> kustomize;
};

struct SyncPolicy {
  bool automated = false;
  bool prune = false;
  bool selfHeal = false;
  bool allowEmpty = false;
  bool createNamespace = false;  // syncOptions CreateNamespace=true
};

// A requested operation (`skiff app sync`, `skiff app rollback`, or Argo CD's own clients).
struct SyncOperation {
  std::string revision;  // "" = the source's targetRevision
  bool prune = false;
};

struct Application {
  std::string name, ns;
  std::vector<Source> sources;  // spec.source, or spec.sources[] without `ref`-only entries
  std::string destinationNamespace;
  SyncPolicy syncPolicy;
  std::optional<SyncOperation> operation;
  int64_t revisionHistoryLimit = 10;
};

// Reads an Application object; the error names the field that is wrong.
Result<Application> parseApplication(const boost::json::value& object);

// Repository URLs compared as Argo CD does: case-insensitive, without a trailing "/" or ".git".
std::string normalizeRepoUrl(std::string url);

}  // namespace skiff::gitops
