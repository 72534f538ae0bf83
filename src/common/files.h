// Files skiff writes whole: created with their final mode from the first byte (never readable
// by anyone the mode excludes, whatever the umask), written, synced and renamed into place, so a
// reader sees the old file or the new one and nobody can catch a token or key in a window.
#pragma once
#include <sys/types.h>

#include <string>
#include <string_view>

#include "common/result.h"

namespace skiff {

// Writes `data` to `path` with exactly `mode` (and `uid`/`gid` unless -1, set before the first
// byte too). The temporary file beside it (`path`.tmp) is made with O_EXCL|O_NOFOLLOW after
// removing a stale one, so a planted symlink or a world-readable leftover cannot receive the data.
Status writeFileAtomic(const std::string& path, std::string_view data, mode_t mode, uid_t uid = uid_t(-1), gid_t gid = gid_t(-1));

// A directory only its owner may enter (0700), with its parents. An existing one with group or
// other bits (a data dir from an older skiff) is narrowed to 0700.
Status makePrivateDir(const std::string& path);

// An exclusive flock on DIR/skiff.lock for the life of the object, so two skiffs never share a
// data dir (their pods, store and keys would collide).
class DataDirLock {
 public:
  DataDirLock() = default;
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;
  ~DataDirLock();
  Status acquire(const std::string& dir);

 private:
  int fd_ = -1;
};

}  // namespace skiff
