// Streaming SHA-256 in the "sha256:<hex>" form registries and OCI layouts use.
#pragma once
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"

namespace skiff::image {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  void update(std::string_view data);
  std::string finish();  // "sha256:<64 hex>"

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

std::string sha256Of(std::string_view data);
Result<std::string> sha256OfFile(const std::string& path);

}  // namespace skiff::image
