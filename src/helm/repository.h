// Chart repositories as Helm 3 reads them: an index.yaml at the repository URL listing each
// chart's versions with download URLs (absolute, or relative to the repository), fetched over
// http or https (the system's roots); named repositories kept in Helm's repositories.yaml
// ($HELM_REPOSITORY_CONFIG, else ~/.config/helm/repositories.yaml).
#pragma once
#include <string>
#include <vector>

#include "helm/chart.h"

namespace skiff::helm {

struct Repository {
  std::string name, url;
};

std::string repositoryConfigPath();
// The configured repositories (none when the file does not exist).
Result<std::vector<Repository>> loadRepositories(const std::string& path);
// Adds or replaces `repo` after checking that its index.yaml is readable, as `helm repo add` does.
Status addRepository(const std::string& path, const Repository& repo);

// One version of a chart in an index.
struct ChartVersion {
  std::string name, version;
  std::vector<std::string> urls;
};
// `version` empty: the newest version that is not a pre-release (Helm's default); otherwise that
// exact version.
Result<ChartVersion> findChartVersion(const Value& index, const std::string& repoUrl, const std::string& chart,
                                      const std::string& version);
// Semantic version order ("1.10.0" > "1.9.2"; a pre-release sorts before its release).
int compareVersions(const std::string& a, const std::string& b);

// The chart `chart` (at `version`) from the repository at `repoUrl`.
Result<Chart> fetchChart(const std::string& repoUrl, const std::string& chart, const std::string& version);

// CHART as `helm install` takes it: a directory or .tgz path, "REPO/NAME" from a configured
// repository, or NAME from `repoUrl` (--repo).
Result<Chart> locateChart(const std::string& chart, const std::string& repoUrl, const std::string& version);

}  // namespace skiff::helm
