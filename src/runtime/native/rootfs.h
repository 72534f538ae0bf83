// Path handling inside a container's root filesystem, which comes from an untrusted image: paths
// are resolved the way the kernel would inside the container (symlinks followed, but clamped at
// the root, so "../../etc" or a link to "/" never leaves it), and users are looked up in the
// image's own /etc/passwd and /etc/group.
#pragma once
#include <string>
#include <vector>

#include "common/result.h"

namespace skiff::runtime {

// The host path that `path` (inside the container) names, resolved within `root`.
Result<std::string> resolveInRoot(const std::string& root, const std::string& path);
// Same, then creates what is missing: directories, and the last part as an empty file when
// `file` is set (a bind mount of a file needs a file to land on).
Result<std::string> makeInRoot(const std::string& root, const std::string& path, bool file);

struct ResolvedUser {
  uint32_t uid = 0, gid = 0;
  std::vector<uint32_t> groups;  // supplementary groups from /etc/group
  std::string home = "/";
};
// "1000", "1000:1000", "app", "app:staff": numbers pass through, names come from the image.
Result<ResolvedUser> resolveUser(const std::string& root, const std::string& user);

// Mounts an overlay of `layers` (lowest first) with a fresh writable layer at bundleDir/rootfs,
// removing whatever an earlier container left in bundleDir. `nodev` (unprivileged containers):
// device nodes in the image or made in the container cannot be opened through it.
Status mountOverlayRoot(const std::vector<std::string>& layers, const std::string& bundleDir, const std::string& image, bool nodev);
// Unmounts it and removes bundleDir.
void removeOverlayRoot(const std::string& bundleDir);

// Finds `command` the way a shell would: as given when it has a '/', else along PATH (from env).
Result<std::string> findExecutable(const std::string& root, const std::string& command, const std::string& pathVariable);

}  // namespace skiff::runtime
