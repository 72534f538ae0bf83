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

}  // namespace skiff::cli
