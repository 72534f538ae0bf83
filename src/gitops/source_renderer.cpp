#include "gitops/source_renderer.h"

#include <fnmatch.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include <boost/json.hpp>

#include "api/codec.h"
#include "api/object.h"
#include "common/files.h"
#include "helm/chart.h"
#include "kustomize/kustomize.h"

namespace skiff::gitops {
namespace fs = std::filesystem;
namespace json = boost::json;
namespace {

constexpr uintmax_t kMaxManifestBytes = 16u << 20;

Result<std::string> readText(const fs::path& path) {
  std::error_code ec;
  uintmax_t size = fs::file_size(path, ec);
  if (ec) return Error::notFound("cannot read " + path.string() + ": " + ec.message());
  if (size > kMaxManifestBytes) return Error::invalid(path.filename().string() + " is larger than 16 MiB");
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// "{a,b}x" -> "ax", "bx" (one level of alternatives per brace pair, nested pairs expanded in turn).
std::vector<std::string> expandBraces(const std::string& pattern) {
  size_t open = pattern.find('{');
  if (open == std::string::npos) return {pattern};
  size_t close = pattern.find('}', open);
  if (close == std::string::npos) return {pattern};
  std::vector<std::string> out;
  std::string head = pattern.substr(0, open), tail = pattern.substr(close + 1), body = pattern.substr(open + 1, close - open - 1);
  size_t start = 0;
  while (true) {
    size_t comma = body.find(',', start);
    for (auto& rest : expandBraces(tail)) out.push_back(head + body.substr(start, comma == std::string::npos ? std::string::npos : comma - start) + rest);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

bool isManifestFile(const fs::path& p) {
  std::string ext = p.extension().string();
  return ext == ".yaml" || ext == ".yml" || ext == ".json";
}

Status checkObject(const json::value& object) {
  if (!object.is_object()) return Error::invalid("a manifest must be a map with apiVersion, kind and metadata.name");
  if (api::stringAt(object, "apiVersion").empty() || api::stringAt(object, "kind").empty())
    return Error::invalid("apiVersion and kind are required");
  if (api::stringAt(object, "metadata.name").empty()) return Error::invalid("metadata.name is required");
  return {};
}

void addDecoded(Rendering& out, const std::string& source, std::string_view text) {
  auto docs = api::decodeManifests(text);
  if (!docs) {
    out.errors.push_back(source + ": " + docs.error().message);
    return;
  }
  for (auto& doc : *docs) {
    if (Status s = checkObject(doc); !s) {
      out.errors.push_back(source + ": " + s.error().message);
      continue;
    }
    out.objects.push_back({source, std::move(doc)});
  }
}

Result<Rendering> renderDirectory(const fs::path& root, const fs::path& dir, const DirectorySource& options) {
  Rendering out{"Directory", {}, {}};
  std::vector<fs::path> files;
  std::error_code ec;
  auto consider = [&](const fs::directory_entry& e) {
    if (!e.is_regular_file() || !isManifestFile(e.path())) return;
    std::string rel = fs::relative(e.path(), dir).string();
    if (!options.include.empty() && !matchesGlob(options.include, rel)) return;
    if (!options.exclude.empty() && matchesGlob(options.exclude, rel)) return;
    files.push_back(e.path());
  };
  if (options.recurse) {
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_directory() && it->path().filename().string().starts_with(".")) it.disable_recursion_pending();
      consider(*it);
    }
  } else {
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) consider(*it);
  }
  if (ec) return Error::unavailable("cannot list " + dir.string() + ": " + ec.message());
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    std::string source = fs::relative(file, root).string();
    auto text = readText(file);
    if (!text) {
      out.errors.push_back(source + ": " + text.error().message);
      continue;
    }
    addDecoded(out, source, *text);
  }
  return out;
}

// A path from the Application, inside the checkout.
Result<fs::path> insideCheckout(const fs::path& base, const std::string& relative, const std::string& field) {
  if (relative.starts_with("/") || fs::path(relative).lexically_normal().string().starts_with(".."))
    return Error::invalid(field + " " + relative + " must be a path inside the repository");
  return base / relative;
}

Result<helm::Value> helmValues(const fs::path& chartDir, const HelmSource& helm) {
  helm::Value values = json::object();
  for (const auto& file : helm.valueFiles) {
    auto path = insideCheckout(chartDir, file, "valueFiles entry");
    if (!path) return path.error();
    auto text = readText(*path);
    if (!text) return Error::invalid("values file " + file + ": " + text.error().message);
    auto docs = api::decodeManifests(*text);
    if (!docs) return Error::invalid("values file " + file + " is not YAML: " + docs.error().message);
    if (docs->empty()) continue;
    if (!(*docs)[0].is_object()) return Error::invalid("values file " + file + " must hold a YAML map");
    values = helm::coalesceValues(values, helm::asHelmValues((*docs)[0]));
  }
  if (!helm.values.empty()) {
    auto docs = api::decodeManifests(helm.values);
    if (!docs) return Error::invalid("spec.source.helm.values is not YAML: " + docs.error().message);
    if (!docs->empty()) {
      if (!(*docs)[0].is_object()) return Error::invalid("spec.source.helm.values must be a YAML map");
      values = helm::coalesceValues(values, helm::asHelmValues((*docs)[0]));
    }
  }
  if (helm.valuesObject.is_object()) values = helm::coalesceValues(values, helm::asHelmValues(helm.valuesObject));
  for (const auto& p : helm.parameters)
    if (Status s = helm::applySetValue(values, p.name + "=" + p.value, p.forceString); !s)
      return Error::invalid("helm parameter " + p.name + ": " + s.error().message);
  return values;
}

Result<Rendering> renderHelm(const fs::path& root, const fs::path& dir, const HelmSource& options, const RenderContext& context) {
  auto chart = helm::loadChart(dir.string());
  if (!chart) return chart.error();
  auto values = helmValues(dir, options);
  if (!values) return values.error();
  helm::ReleaseOptions release;
  release.name = options.releaseName.empty() ? context.appName : options.releaseName;
  release.nameSpace = context.destinationNamespace.empty() ? "default" : context.destinationNamespace;
  auto manifests = helm::renderChart(*chart, *values, release);
  if (!manifests) return manifests.error();
  Rendering out{"Helm", {}, {}};
  std::string base = fs::relative(dir, root).string();
  for (const auto& m : *manifests) {
    if (m.hook) continue;  // Helm hooks are not run (Argo CD maps them to its own hooks; skiff has none yet)
    addDecoded(out, base + "/" + m.source, m.content);
  }
  return out;
}

// kustomize's `edit set image` argument: name=newName:tag, name=newName@digest, name:tag, name@digest.
json::object imageEntry(const std::string& spec) {
  std::string name = spec, replacement;
  if (size_t eq = spec.find('='); eq != std::string::npos) {
    name = spec.substr(0, eq);
    replacement = spec.substr(eq + 1);
  } else {
    replacement = spec;
  }
  auto splitRef = [](const std::string& s, std::string& base, std::string& tag, std::string& digest) {
    base = s;
    if (size_t at = s.find('@'); at != std::string::npos) {
      base = s.substr(0, at);
      digest = s.substr(at + 1);
      return;
    }
    size_t colon = s.rfind(':');
    if (colon != std::string::npos && s.find('/', colon) == std::string::npos) {
      base = s.substr(0, colon);
      tag = s.substr(colon + 1);
    }
  };
  std::string newName, tag, digest, ignoredTag, ignoredDigest;
  bool renamed = spec.find('=') != std::string::npos;
  if (renamed) splitRef(name, name, ignoredTag, ignoredDigest);
  splitRef(replacement, newName, tag, digest);
  json::object entry{{"name", renamed ? name : newName}};
  if (renamed && newName != name) entry["newName"] = newName;
  if (!tag.empty()) entry["newTag"] = tag;
  if (!digest.empty()) entry["digest"] = digest;
  return entry;
}

// Argo CD applies the source's kustomize options with `kustomize edit` in its own copy of the
// repository; skiff edits the kustomization file of its checkout the same way.
Status applyKustomizeOptions(const fs::path& dir, const KustomizeSource& options) {
  fs::path file;
  for (const char* name : {"kustomization.yaml", "kustomization.yml", "Kustomization"})
    if (fs::exists(dir / name)) file = dir / name;
  if (file.empty()) return Error::notFound("no kustomization.yaml in " + dir.filename().string());
  auto text = readText(file);
  if (!text) return text.error();
  auto docs = api::decodeManifests(*text);
  if (!docs) return Error::invalid(file.filename().string() + ": " + docs.error().message);
  json::value k = docs->empty() ? json::value(json::object()) : (*docs)[0];
  if (!k.is_object()) return Error::invalid(file.filename().string() + " must hold a map");
  json::object& o = k.as_object();
  if (!options.namePrefix.empty()) o["namePrefix"] = options.namePrefix;
  if (!options.nameSuffix.empty()) o["nameSuffix"] = options.nameSuffix;
  if (!options.commonLabels.empty()) {
    json::object labels = o.contains("commonLabels") && o["commonLabels"].is_object() ? o["commonLabels"].as_object() : json::object();
    for (const auto& [key, value] : options.commonLabels) labels[key] = value;
    o["commonLabels"] = labels;
  }
  if (!options.images.empty()) {
    json::array images = o.contains("images") && o["images"].is_array() ? o["images"].as_array() : json::array();
    for (const auto& spec : options.images) {
      json::object entry = imageEntry(spec);
      auto same = std::find_if(images.begin(), images.end(), [&](const json::value& i) { return api::stringAt(i, "name") == entry["name"].as_string(); });
      if (same != images.end()) *same = entry;
      else images.push_back(entry);
    }
    o["images"] = images;
  }
  return writeFileAtomic(file.string(), api::toYaml(k), 0600);
}

Result<Rendering> renderKustomize(const fs::path& root, const fs::path& dir, const std::optional<KustomizeSource>& options) {
  if (options)
    if (Status s = applyKustomizeOptions(dir, *options); !s) return s.error();
  auto objects = kustomize::build(dir);
  if (!objects) return objects.error();
  Rendering out{"Kustomize", {}, {}};
  std::string source = fs::relative(dir, root).string();
  for (auto& object : *objects) {
    if (Status s = checkObject(object); !s) {
      out.errors.push_back(source + ": " + s.error().message);
      continue;
    }
    out.objects.push_back({source, std::move(object)});
  }
  return out;
}

bool hasKustomization(const fs::path& dir) {
  return fs::exists(dir / "kustomization.yaml") || fs::exists(dir / "kustomization.yml") || fs::exists(dir / "Kustomization");
}

}  // namespace

void placeObject(json::value& o, std::optional<bool> namespaced, const Application& app) {
  json::object& meta = api::metadataOf(o);
  if (namespaced && *namespaced && api::stringAt(o, "metadata.namespace").empty())
    meta["namespace"] = app.destinationNamespace.empty() ? "default" : app.destinationNamespace;
  if (namespaced && !*namespaced) meta.erase("namespace");
  if (!meta.contains("labels") || !meta["labels"].is_object()) meta["labels"] = json::object();
  meta["labels"].as_object()[kTrackingLabel] = app.name;
}

bool matchesGlob(const std::string& pattern, const std::string& relativePath) {
  for (const auto& p : expandBraces(pattern))
    if (::fnmatch(p.c_str(), relativePath.c_str(), 0) == 0) return true;
  return false;
}

Result<Rendering> renderSource(const fs::path& checkout, const Source& source, const RenderContext& context) {
  std::string path = source.path.empty() ? "." : source.path;
  auto dir = insideCheckout(checkout, path, "path");
  if (!dir) return dir.error();
  std::error_code ec;
  if (!fs::is_directory(*dir, ec)) return Error::notFound("app path does not exist: " + path);
  if (source.helm || (!source.directory && !source.kustomize && fs::exists(*dir / "Chart.yaml")))
    return renderHelm(checkout, *dir, source.helm ? *source.helm : HelmSource{}, context);
  if (source.kustomize || (!source.directory && hasKustomization(*dir))) return renderKustomize(checkout, *dir, source.kustomize);
  return renderDirectory(checkout, *dir, source.directory ? *source.directory : DirectorySource{});
}

}  // namespace skiff::gitops
