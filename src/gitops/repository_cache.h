// RepositoryCache: local bare copies of the Git repositories Applications deploy from, fetched
// with libgit2 (file paths, file://, git://, http(s) with basic or token credentials).
//
// One bare repository per URL under the cache directory (mode 0700, named after a hash of the
// URL). Many Applications on one repository share one fetch: a caller says how fresh the copy
// must be (`freshAfter`, e.g. when a webhook or poll asked), and a fetch that started after that
// moment serves it instead of fetching again. Debian 12's libgit2 (1.5) has no shallow fetch
// (depth came in 1.7): the first fetch copies the whole history, later ones only what is new.
//
// Threading: every method may be called from any thread; fetches of one URL are serialized,
// different URLs proceed in parallel.
#pragma once
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/result.h"

namespace skiff::gitops {

// From an Argo CD repository Secret (keys username, password; a token goes in password).
struct Credentials {
  std::string username, password;
};

class RepositoryCache {
 public:
  using Clock = std::chrono::steady_clock;
  // Creates `dir` (0700) when missing.
  static Result<std::unique_ptr<RepositoryCache>> open(const std::filesystem::path& dir);
  ~RepositoryCache();

  // Brings the copy of `url` up to date unless a fetch that started at or after `freshAfter`
  // succeeded, then resolves `revision` — HEAD (the remote's default branch), a branch, a tag or
  // a commit id (full or abbreviated) — to a full commit id.
  Result<std::string> resolve(const std::string& url, const std::string& revision, const Credentials& credentials,
                              Clock::time_point freshAfter);
  // Writes the tree of `commit` (regular files only: symbolic links and submodules are skipped,
  // so nothing points outside `dest`) into the empty directory `dest`.
  Status checkout(const std::string& url, const std::string& commit, const std::filesystem::path& dest);
  // When the copy of `url` last began a fetch that succeeded (epoch when never).
  Clock::time_point lastFetch(const std::string& url);

 private:
  struct Repository;
  explicit RepositoryCache(std::filesystem::path dir);
  Repository& repository(const std::string& url);
  Status fetch(Repository& repo, const std::string& url, const Credentials& credentials);

  std::filesystem::path dir_;
  std::mutex mutex_;
  std::map<std::string, std::unique_ptr<Repository>> repositories_;
};

}  // namespace skiff::gitops
