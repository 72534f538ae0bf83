// A client for one repository on an OCI distribution (Docker registry v2) server: manifests and
// blobs, with the bearer-token dance (401 + WWW-Authenticate -> token endpoint -> retry), Basic
// credentials when given, redirects for blobs, and digest verification of everything fetched.
// One instance per thread (it owns its connections).
#pragma once
#include <map>
#include <memory>
#include <string>

#include "common/result.h"
#include "image/image_store.h"
#include "image/reference.h"

namespace skiff::image {

struct FetchedManifest {
  std::string mediaType;
  std::string body;
  std::string digest;
};

class RegistryClient {
 public:
  RegistryClient(Reference ref, RegistryAuth auth);
  ~RegistryClient();
  // The manifest (or index) for `reference` (a tag or a digest), digest-checked when pinned.
  Result<FetchedManifest> manifest(const std::string& reference);
  // Downloads a blob to `path` (via a temporary file), verifying its digest.
  Status blob(const std::string& digest, const std::string& path);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The error a registry put in its body ({"errors":[{"code","message"}]}), or the status line.
std::string describeRegistryError(int status, const std::string& body);

}  // namespace skiff::image
