#include "cli/manifests.h"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "api/codec.h"
#include "kustomize/kustomize.h"

namespace skiff::cli {
namespace fs = std::filesystem;

namespace {
Status readOne(const std::string& path, std::vector<Manifest>& out) {
  std::string text;
  if (path == "-") {
    std::stringstream ss;
    ss << std::cin.rdbuf();
    text = ss.str();
  } else {
    std::ifstream in(path);
    if (!in) return Error::notFound("the path \"" + path + "\" does not exist");
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  auto docs = api::decodeManifests(text);
  if (!docs) return Error::badRequest("error parsing " + path + ": " + docs.error().message);
  for (auto& d : *docs) {
    if (!d.is_object()) return Error::badRequest("error parsing " + path + ": a manifest must be an object, not a " + std::string(d.is_array() ? "list" : "scalar"));
    out.push_back({path, std::move(d)});
  }
  return {};
}
}  // namespace

Result<std::vector<Manifest>> readManifests(const std::vector<std::string>& paths, bool recursive) {
  std::vector<Manifest> out;
  if (paths.empty()) return Error::badRequest("must specify one of -f and -k (a file, a directory, or - for stdin)");
  for (const auto& p : paths) {
    std::error_code ec;
    if (p != "-" && fs::is_directory(p, ec)) {
      std::vector<std::string> files;
      auto consider = [&](const fs::directory_entry& e) {
        auto ext = e.path().extension().string();
        if (e.is_regular_file() && (ext == ".yaml" || ext == ".yml" || ext == ".json")) files.push_back(e.path().string());
      };
      if (recursive)
        for (const auto& e : fs::recursive_directory_iterator(p, ec)) consider(e);
      else
        for (const auto& e : fs::directory_iterator(p, ec)) consider(e);
      std::sort(files.begin(), files.end());
      for (const auto& f : files)
        if (Status s = readOne(f, out); !s) return s.error();
    } else if (Status s = readOne(p, out); !s) {
      return s.error();
    }
  }
  return out;
}

Result<std::vector<Manifest>> readKustomization(const std::string& dir) {
  auto objects = kustomize::build(dir);
  if (!objects) return objects.error();
  std::vector<Manifest> out;
  for (auto& o : *objects) out.push_back({dir, std::move(o)});
  return out;
}

}  // namespace skiff::cli
