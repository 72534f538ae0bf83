// Image references as Docker and Kubernetes read them: [registry/]repository[:tag][@digest].
// A name without a registry is Docker Hub's ("busybox" -> docker.io/library/busybox:latest); the
// first component names a registry when it has a dot or a port, or is "localhost".
#pragma once
#include <string>
#include <string_view>

#include "common/result.h"

namespace skiff::image {

struct Reference {
  std::string registry;    // "docker.io", "127.0.0.1:5000"
  std::string repository;  // "library/busybox"
  std::string tag;         // "latest" when neither tag nor digest was given
  std::string digest;      // "sha256:<64 hex>" or empty

  // The full name: registry/repository[:tag][@digest].
  std::string canonical() const;
  // What to ask the registry for: the digest when pinned, else the tag.
  std::string manifestReference() const { return digest.empty() ? tag : digest; }
  // Registry host to connect to (Docker Hub's API lives at registry-1.docker.io).
  std::string apiHost() const;
  // Plain HTTP is allowed only for registries on loopback, as Docker allows.
  bool loopback() const;
};

Result<Reference> parseReference(std::string_view text);
bool validDigest(std::string_view digest);

}  // namespace skiff::image
