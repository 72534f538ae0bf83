// A native kustomization.yaml engine: a directory in, the resource objects kustomize would emit
// out, in the same order. No server and no network: remote bases are refused with a clear error.
// Used by `skiff kustomize build` and `skiff apply -k`; the GitOps controller calls it too.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "common/result.h"

namespace skiff::kustomize {

struct Options {
  // kustomize's `--reorder=legacy` (its CLI default): kinds that others depend on first.
  bool legacyOrder = true;
};

Result<std::vector<boost::json::value>> build(const std::filesystem::path& dir, const Options& options = {});

// The YAML stream `kubectl kustomize` prints for these objects.
std::string toYamlStream(const std::vector<boost::json::value>& objects);

}  // namespace skiff::kustomize
