#include "image/image_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>

#include "api/object.h"
#include "common/log.h"
#include "image/digest.h"
#include "image/layer.h"
#include "image/registry_client.h"

namespace skiff::image {
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

Result<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::notFound("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

Status writeFileAtomic(const std::string& path, const std::string& data) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << data;
    out.flush();
    if (!out) return Error::internal("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return Error::internal("cannot move " + tmp + " into place");
  return {};
}

Result<json::value> parseJson(const std::string& text, const std::string& what) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return Error::badRequest(what + " is not a JSON object" + (ec ? ": " + ec.message() : ""));
  return v;
}

std::string str(const json::value& o, const char* key) {
  if (!o.is_object()) return "";
  auto* v = o.get_object().if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : "";
}


bool isIndex(const json::value& m, const std::string& mediaType) {
  std::string mt = mediaType.empty() ? str(m, "mediaType") : mediaType;
  return mt.find("index") != std::string::npos || mt.find("manifest.list") != std::string::npos ||
         (mt.empty() && m.get_object().contains("manifests"));
}

// From an index, the manifest for linux/amd64 (or the only one).
Result<std::string> pickPlatform(const json::value& index, const std::string& what) {
  const json::value* ms = index.get_object().if_contains("manifests");
  if (!ms || !ms->is_array() || ms->get_array().empty()) return Error::badRequest(what + " lists no manifests");
  for (const auto& m : ms->get_array()) {
    const json::value* p = m.is_object() ? m.get_object().if_contains("platform") : nullptr;
    if (p && str(*p, "os") == "linux" && str(*p, "architecture") == "amd64") return str(m, "digest");
  }
  if (ms->get_array().size() == 1) return str(ms->get_array()[0], "digest");
  return Error::notFound(what + " has no image for linux/amd64");
}

// Checks the layer media types before anything is downloaded.
Status checkLayers(const json::value& manifest, const std::string& what) {
  const json::value* layers = manifest.get_object().if_contains("layers");
  if (!layers || !layers->is_array()) return Error::badRequest(what + " has no layers list");
  if (!validDigest(str(manifest.at("config"), "digest"))) return Error::badRequest(what + " names no valid config digest");
  for (const auto& l : layers->get_array()) {
    std::string mt = str(l, "mediaType");
    if (!validDigest(str(l, "digest"))) return Error::badRequest(what + " has a layer without a valid digest");
    if (mt.find("zstd") != std::string::npos)
      return Error::badRequest(what + " has zstd-compressed layers, which skiff cannot unpack yet (push it with gzip layers)");
    if (mt.find("foreign") != std::string::npos || mt.find("nondistributable") != std::string::npos)
      return Error::badRequest(what + " has foreign (Windows) layers");
  }
  return {};
}

// Copies a file into the blob store, checking (or computing) its digest.
Result<std::string> copyBlob(const std::string& from, const std::string& storeDir, const std::string& expected) {
  auto digest = sha256OfFile(from);
  if (!digest) return digest.error();
  if (!expected.empty() && *digest != expected)
    return Error::badRequest("blob " + from + " has digest " + *digest + " but the image says " + expected + " (corrupt archive)");
  std::string to = storeDir + "/blobs/sha256/" + digest->substr(7);
  if (!fs::exists(to)) {
    std::error_code ec;
    fs::copy_file(from, to + ".tmp", fs::copy_options::overwrite_existing, ec);
    if (ec || std::rename((to + ".tmp").c_str(), to.c_str()) != 0) return Error::internal("cannot store blob " + *digest + ": " + ec.message());
  }
  return *digest;
}

}  // namespace

ImageStore::ImageStore(std::string dir) : dir_(std::move(dir)) {}
ImageStore::~ImageStore() = default;

std::string ImageStore::blobPath(const std::string& digest) const { return dir_ + "/blobs/sha256/" + digest.substr(7); }

std::shared_ptr<std::mutex> ImageStore::lockFor(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto& m = busy_[key];
  if (!m) m = std::make_shared<std::mutex>();
  return m;
}

Status ImageStore::open() {
  std::error_code ec;
  for (const char* sub : {"/blobs/sha256", "/layers", "/tmp"}) fs::create_directories(dir_ + sub, ec);
  if (ec) return Error::unavailable("cannot create the image store in " + dir_ + ": " + ec.message());
  fs::remove_all(dir_ + "/tmp", ec);  // half-finished imports and unpacks of an earlier run
  fs::create_directories(dir_ + "/tmp", ec);
  auto text = readFile(dir_ + "/index.json");
  if (!text) return {};
  auto v = parseJson(*text, dir_ + "/index.json");
  if (!v) return Error::unavailable("the image index is damaged (" + v.error().message + "); move it away to start over");
  std::lock_guard lock(mutex_);
  if (auto* images = v->get_object().if_contains("images"); images && images->is_object())
    for (const auto& kv : images->get_object())
      if (kv.value().is_string()) index_[std::string(kv.key())] = std::string(kv.value().get_string());
  return {};
}

Status ImageStore::saveIndex() {
  json::object images;
  for (const auto& [name, digest] : index_) images[name] = digest;
  return writeFileAtomic(dir_ + "/index.json", json::serialize(json::object{{"images", images}}));
}

Status ImageStore::record(const Image& image) {
  std::lock_guard lock(mutex_);
  index_[image.name] = image.manifestDigest;
  return saveIndex();
}

Result<Image> ImageStore::readImage(const std::string& name, const std::string& manifestDigest) {
  auto text = readFile(blobPath(manifestDigest));
  if (!text) return Error::notFound("image " + name + ": its manifest " + manifestDigest + " is missing from the store");
  auto m = parseJson(*text, "the manifest of " + name);
  if (!m) return m.error();
  Image img;
  img.name = name;
  img.manifestDigest = manifestDigest;
  img.configDigest = str(m->at("config"), "digest");
  img.size = uint64_t(m->at("config").as_object().contains("size") ? m->at("config").at("size").to_number<int64_t>() : 0);
  if (auto* layers = m->get_object().if_contains("layers"); layers && layers->is_array())
    for (const auto& l : layers->get_array()) {
      img.layers.push_back(str(l, "digest"));
      if (auto* sz = l.get_object().if_contains("size"); sz && sz->is_int64()) img.size += uint64_t(sz->get_int64());
    }
  auto cfgText = readFile(blobPath(img.configDigest));
  if (!cfgText) return Error::notFound("image " + name + ": its config " + img.configDigest + " is missing from the store");
  auto cfg = parseJson(*cfgText, "the config of " + name);
  if (!cfg) return cfg.error();
  if (auto* c = cfg->get_object().if_contains("config"); c && c->is_object()) {
    img.config.entrypoint = api::stringsAt(*c, "Entrypoint");
    img.config.cmd = api::stringsAt(*c, "Cmd");
    img.config.env = api::stringsAt(*c, "Env");
    img.config.workingDir = str(*c, "WorkingDir");
    img.config.user = str(*c, "User");
  }
  return img;
}

std::optional<Image> ImageStore::find(const std::string& name) {
  auto ref = parseReference(name);
  if (!ref) return std::nullopt;
  std::string digest;
  {
    std::lock_guard lock(mutex_);
    auto it = index_.find(ref->canonical());
    if (it != index_.end()) digest = it->second;
    // name@digest finds any name holding that manifest.
    if (digest.empty() && !ref->digest.empty())
      for (const auto& [n, d] : index_)
        if (d == ref->digest) digest = d;
  }
  if (digest.empty()) return std::nullopt;
  auto img = readImage(ref->canonical(), digest);
  if (!img) return std::nullopt;
  return *img;
}

Result<Image> ImageStore::pull(const std::string& name, const std::map<std::string, RegistryAuth>& auth) {
  auto ref = parseReference(name);
  if (!ref) return ref.error();
  auto busy = lockFor("pull:" + ref->canonical());
  std::lock_guard pulling(*busy);  // a second pull of the same name waits and then re-checks
  RegistryAuth creds;
  if (auto it = auth.find(ref->registry); it != auth.end()) creds = it->second;
  RegistryClient client(*ref, creds);
  std::string what = "image " + ref->canonical();
  auto m = client.manifest(ref->manifestReference());
  if (!m) return m.error();
  auto manifest = parseJson(m->body, "the manifest of " + what);
  if (!manifest) return manifest.error();
  if (isIndex(*manifest, m->mediaType)) {
    auto pick = pickPlatform(*manifest, what);
    if (!pick) return pick.error();
    m = client.manifest(*pick);
    if (!m) return m.error();
    manifest = parseJson(m->body, "the manifest of " + what);
    if (!manifest) return manifest.error();
  }
  if (!manifest->get_object().contains("config")) return Error::badRequest(what + ": the registry sent a manifest without a config");
  if (Status s = checkLayers(*manifest, what); !s) return s.error();
  // Config and layers concurrently (four at a time), skipping blobs already here.
  std::vector<std::string> wanted{str(manifest->at("config"), "digest")};
  for (const auto& l : manifest->at("layers").as_array()) wanted.push_back(str(l, "digest"));
  std::vector<std::string> missing;
  for (const auto& d : wanted)
    if (!fs::exists(blobPath(d)) && std::find(missing.begin(), missing.end(), d) == missing.end()) missing.push_back(d);
  std::atomic<size_t> nextBlob{0};
  std::mutex errorMutex;
  std::optional<Error> firstError;
  auto worker = [&] {
    RegistryClient own(*ref, creds);
    for (size_t i = nextBlob++; i < missing.size(); i = nextBlob++) {
      auto blobLock = lockFor("blob:" + missing[i]);
      std::lock_guard held(*blobLock);
      if (fs::exists(blobPath(missing[i]))) continue;
      if (Status s = own.blob(missing[i], blobPath(missing[i])); !s) {
        std::lock_guard lock(errorMutex);
        if (!firstError) firstError = s.error();
        nextBlob = missing.size();
      }
    }
  };
  std::vector<std::thread> workers;
  for (size_t i = 0; i < std::min<size_t>(4, missing.size()); ++i) workers.emplace_back(worker);
  for (auto& t : workers) t.join();
  if (firstError) return *firstError;
  if (Status s = writeFileAtomic(blobPath(m->digest), m->body); !s) return s.error();
  auto img = readImage(ref->canonical(), m->digest);
  if (!img) return img.error();
  if (Status s = record(*img); !s) return s.error();
  log::info("image", "pulled " + img->name + " (" + std::to_string(img->layers.size()) + " layers, " + std::to_string(missing.size()) + " blobs fetched)");
  return img;
}

Result<std::vector<Image>> ImageStore::import(const std::string& path, const std::string& name) {
  std::error_code ec;
  std::string root = path;
  std::string scratch;
  if (!fs::is_directory(path, ec)) {
    // An archive: unpack it (safely, it is untrusted) into a scratch directory first.
    if (!fs::exists(path, ec)) return Error::notFound("no such file or directory: " + path);
    char tmpl[4096];
    std::snprintf(tmpl, sizeof tmpl, "%s/tmp/import-XXXXXX", dir_.c_str());
    if (!mkdtemp(tmpl)) return Error::internal("cannot make a scratch directory in " + dir_ + "/tmp");
    scratch = root = tmpl;
    auto src = openLayerFile(path);
    if (!src) return src.error();
    if (Status s = unpackLayer(std::move(*src), scratch); !s) {
      fs::remove_all(scratch, ec);
      return Error::badRequest(path + " is not a readable image archive: " + s.error().message);
    }
  }
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code e;
      if (!dir.empty()) fs::remove_all(dir, e);
    }
  } cleanup{scratch};

  std::vector<std::pair<std::string, std::string>> found;  // name, manifest digest
  if (fs::exists(root + "/oci-layout", ec) && fs::exists(root + "/index.json", ec)) {
    auto idxText = readFile(root + "/index.json");
    if (!idxText) return idxText.error();
    auto idx = parseJson(*idxText, path + "/index.json");
    if (!idx) return idx.error();
    const json::value* ms = idx->get_object().if_contains("manifests");
    if (!ms || !ms->is_array() || ms->get_array().empty()) return Error::badRequest(path + " holds no images (index.json lists no manifests)");
    for (const auto& desc : ms->get_array()) {
      std::string digest = str(desc, "digest");
      if (!validDigest(digest)) return Error::badRequest(path + "/index.json lists a manifest without a valid sha256 digest");
      std::string refName;
      if (auto* ann = desc.get_object().if_contains("annotations"); ann && ann->is_object()) {
        refName = str(*ann, "io.containerd.image.name");
        if (refName.empty()) refName = str(*ann, "org.opencontainers.image.ref.name");
      }
      std::string blobFile = root + "/blobs/sha256/" + digest.substr(7);
      auto body = readFile(blobFile);
      if (!body) return Error::badRequest(path + " is missing blob " + digest);
      if (sha256Of(*body) != digest) return Error::badRequest(path + ": blob " + digest + " does not match its digest (corrupt archive)");
      auto m = parseJson(*body, "manifest " + digest);
      if (!m) return m.error();
      if (isIndex(*m, str(desc, "mediaType"))) {
        auto pick = pickPlatform(*m, "index " + digest);
        if (!pick) return pick.error();
        digest = *pick;
        blobFile = root + "/blobs/sha256/" + digest.substr(7);
        body = readFile(blobFile);
        if (!body) return Error::badRequest(path + " is missing blob " + digest);
        m = parseJson(*body, "manifest " + digest);
        if (!m) return m.error();
      }
      if (Status s = checkLayers(*m, "manifest " + digest); !s) return s.error();
      std::vector<std::string> blobs{digest, str(m->at("config"), "digest")};
      for (const auto& l : m->at("layers").as_array()) blobs.push_back(str(l, "digest"));
      for (const auto& b : blobs)
        if (auto r = copyBlob(root + "/blobs/sha256/" + b.substr(7), dir_, b); !r) return r.error();
      found.emplace_back(refName, digest);
    }
  } else if (fs::exists(root + "/manifest.json", ec)) {
    // `docker save`: [{"Config": "<hex>.json", "RepoTags": ["name:tag"], "Layers": ["<dir>/layer.tar"]}]
    auto text = readFile(root + "/manifest.json");
    if (!text) return text.error();
    boost::system::error_code jec;
    json::value list = json::parse(*text, jec);
    if (jec || !list.is_array() || list.get_array().empty()) return Error::badRequest(path + ": manifest.json is not a list of images");
    for (const auto& entry : list.get_array()) {
      auto inside = [&](const std::string& rel) -> Result<std::string> {
        if (rel.empty() || rel.find("..") != std::string::npos || rel.front() == '/')
          return Error::badRequest(path + ": manifest.json names an unsafe path \"" + rel + "\"");
        return root + "/" + rel;
      };
      auto cfgPath = inside(str(entry, "Config"));
      if (!cfgPath) return cfgPath.error();
      auto cfgDigest = copyBlob(*cfgPath, dir_, "");
      if (!cfgDigest) return cfgDigest.error();
      json::array layers;
      for (const auto& rel : api::stringsAt(entry, "Layers")) {
        auto lp = inside(rel);
        if (!lp) return lp.error();
        auto d = copyBlob(*lp, dir_, "");
        if (!d) return d.error();
        layers.push_back(json::object{{"mediaType", "application/vnd.oci.image.layer.v1.tar"}, {"digest", *d},
                                      {"size", int64_t(fs::file_size(*lp, ec))}});
      }
      json::object manifest{{"schemaVersion", 2},
                            {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                            {"config", json::object{{"mediaType", "application/vnd.oci.image.config.v1+json"}, {"digest", *cfgDigest},
                                                    {"size", int64_t(fs::file_size(*cfgPath, ec))}}},
                            {"layers", layers}};
      std::string body = json::serialize(manifest);
      std::string digest = sha256Of(body);
      if (Status s = writeFileAtomic(blobPath(digest), body); !s) return s.error();
      auto tags = api::stringsAt(entry, "RepoTags");
      if (tags.empty()) tags.push_back("");
      for (const auto& t : tags) found.emplace_back(t, digest);
    }
  } else {
    return Error::badRequest(path + " is neither an OCI image layout (oci-layout + index.json) nor a `docker save` archive (manifest.json)");
  }
  if (!name.empty() && found.size() > 1)
    return Error::badRequest(path + " holds " + std::to_string(found.size()) + " images; --name can only name one");
  std::vector<Image> out;
  for (auto& [refName, digest] : found) {
    std::string use = name.empty() ? refName : name;
    if (use.empty()) return Error::badRequest(path + " has an image without a name; give one with --name");
    auto ref = parseReference(use);
    if (!ref) return Error::badRequest(ref.error().message + " (give a name with --name)");
    auto img = readImage(ref->canonical(), digest);
    if (!img) return img.error();
    if (Status s = record(*img); !s) return s.error();
    out.push_back(*img);
  }
  return out;
}

std::vector<Image> ImageStore::list() {
  std::map<std::string, std::string> copy;
  {
    std::lock_guard lock(mutex_);
    copy = index_;
  }
  std::vector<Image> out;
  for (const auto& [name, digest] : copy)
    if (auto img = readImage(name, digest)) out.push_back(*img);
  return out;
}

Status ImageStore::remove(const std::string& name) {
  auto ref = parseReference(name);
  if (!ref) return ref.error();
  std::lock_guard lock(mutex_);
  if (!index_.erase(ref->canonical())) return Error::notFound("image \"" + name + "\" is not on this node");
  return saveIndex();
}

Result<PruneReport> ImageStore::prune(const std::set<std::string>& inUse) {
  std::set<std::string> keep = inUse;
  for (const auto& img : list()) {
    keep.insert(img.manifestDigest);
    keep.insert(img.configDigest);
    keep.insert(img.layers.begin(), img.layers.end());
  }
  PruneReport report;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_ + "/blobs/sha256", ec)) {
    std::string digest = "sha256:" + e.path().filename().string();
    if (keep.count(digest)) continue;
    report.bytesFreed += e.file_size(ec);
    if (fs::remove(e.path(), ec)) ++report.blobsRemoved;
  }
  for (const auto& e : fs::directory_iterator(dir_ + "/layers", ec)) {
    std::string digest = "sha256:" + e.path().filename().string();
    if (keep.count(digest)) continue;
    auto held = lockFor("layer:" + digest);
    std::lock_guard lock(*held);
    if (fs::remove_all(e.path(), ec) > 0) ++report.layersRemoved;
  }
  return report;
}

Result<std::vector<std::string>> ImageStore::layerDirs(const Image& image) {
  std::vector<std::string> dirs;
  for (const auto& digest : image.layers) {
    std::string target = dir_ + "/layers/" + digest.substr(7);
    auto held = lockFor("layer:" + digest);
    std::lock_guard lock(*held);
    if (!fs::exists(target)) {
      std::string tmp = dir_ + "/tmp/layer-" + digest.substr(7, 16) + "-" + std::to_string(getpid());
      std::error_code ec;
      fs::remove_all(tmp, ec);
      auto src = openLayerFile(blobPath(digest));
      if (!src) return Error::notFound("image " + image.name + ": layer " + digest + " is missing from the store (pull it again)");
      if (Status s = unpackLayer(std::move(*src), tmp); !s) {
        fs::remove_all(tmp, ec);
        return Error::badRequest("image " + image.name + ": layer " + digest + ": " + s.error().message);
      }
      if (std::rename(tmp.c_str(), target.c_str()) != 0) {
        fs::remove_all(tmp, ec);
        return Error::internal("cannot move unpacked layer into " + target);
      }
    }
    dirs.push_back(target);
  }
  return dirs;
}

}  // namespace skiff::image
