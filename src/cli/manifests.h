// Reading manifests for apply and delete: files, directories (*.yaml, *.yml, *.json) or stdin.
#pragma once
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "common/result.h"

namespace skiff::cli {

struct Manifest {
  std::string source;  // file it came from
  boost::json::value object;
};

Result<std::vector<Manifest>> readManifests(const std::vector<std::string>& paths, bool recursive);

// The objects a kustomization directory builds to (apply -k), each sourced from the directory.
Result<std::vector<Manifest>> readKustomization(const std::string& dir);

}  // namespace skiff::cli
