// The node's images: a content-addressed blob store (DIR/images/blobs/sha256/<hex>), an index of
// names to manifests (DIR/images/index.json), and layers unpacked once each
// (DIR/images/layers/<hex>/) to be stacked by overlayfs under every container that uses them.
//
// Images arrive by pull from an OCI distribution registry (v2 API, bearer-token auth, digest
// checks, manifest lists resolved for linux/amd64, layers fetched concurrently and deduplicated)
// or by import of an OCI image layout, an OCI archive or a `docker save` archive.
//
// Threading: every method may be called from any thread. Pulls of the same name share one
// transfer; each layer is unpacked once (into a temporary directory renamed into place).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"
#include "image/reference.h"

namespace skiff::image {

// The parts of an image's config a runtime needs.
struct ImageConfig {
  std::vector<std::string> entrypoint, cmd, env;
  std::string workingDir, user;
};

struct Image {
  std::string name;            // canonical reference
  std::string manifestDigest;  // what the registry calls the image by (its imageID)
  std::string configDigest;
  std::vector<std::string> layers;  // blob digests, lowest layer first
  uint64_t size = 0;                // compressed bytes of config and layers
  ImageConfig config;
};

// Credentials for one registry (from an imagePullSecret's .dockerconfigjson).
struct RegistryAuth {
  std::string username, password;
};

struct PruneReport {
  size_t blobsRemoved = 0, layersRemoved = 0;
  uint64_t bytesFreed = 0;
};

class ImageStore {
 public:
  explicit ImageStore(std::string dir);
  ~ImageStore();
  // Creates the directories and reads the index.
  Status open();

  // The image known by this name, if any (names are parsed and made canonical first).
  std::optional<Image> find(const std::string& name);
  // Pulls from the image's registry. Plain HTTP only for loopback registries.
  Result<Image> pull(const std::string& name, const std::map<std::string, RegistryAuth>& auth = {});
  // Imports an OCI image layout directory, an OCI archive or a `docker save` archive. `name`
  // overrides the names found inside (allowed when the archive holds one image).
  Result<std::vector<Image>> import(const std::string& path, const std::string& name = "");
  std::vector<Image> list();
  // Forgets a name; its blobs stay until prune().
  Status remove(const std::string& name);
  // Removes blobs and unpacked layers no remaining image refers to, keeping `inUse` (blob digests
  // of images running containers use, even when their name was removed).
  Result<PruneReport> prune(const std::set<std::string>& inUse = {});
  // Unpacked layer directories for an image, lowest first, unpacking any not yet unpacked.
  Result<std::vector<std::string>> layerDirs(const Image& image);

  const std::string& dir() const { return dir_; }
  std::string blobPath(const std::string& digest) const;

 private:
  Status saveIndex();  // with mutex_ held
  Result<Image> readImage(const std::string& name, const std::string& manifestDigest);
  Status record(const Image& image);

  std::string dir_;
  std::mutex mutex_;
  std::map<std::string, std::string> index_;  // canonical name -> manifest digest
  std::map<std::string, std::shared_ptr<std::mutex>> busy_;  // per-name pulls, per-layer unpacks
  std::shared_ptr<std::mutex> lockFor(const std::string& key);
};

}  // namespace skiff::image
