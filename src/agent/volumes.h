// Pod volumes for the isolating runtimes: each volume of a pod becomes a host directory (or a
// tmpfs) under the pod's directory, and each container's volumeMounts become bind mounts of them.
// emptyDir (also medium: Memory), hostPath (with its type checks), configMap, secret, downwardAPI,
// persistentVolumeClaim and projected (configMap, secret, downwardAPI) are supported, with items, defaultMode and
// optional as Kubernetes reads them.
#pragma once
#include <sys/types.h>

#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "client/client.h"
#include "common/result.h"
#include "runtime/runtime.h"

namespace skiff::agent {

struct PreparedVolume {
  std::string hostPath;       // what to bind (empty with tmpfs)
  bool tmpfs = false;
  std::string tmpfsOptions;
  bool readOnly = false;      // configMap, secret and friends are always read-only
};

// Service-account tokens for the pod (issued by the API server's key) and what goes with them.
struct TokenSource {
  std::function<std::string(int64_t seconds, const std::string& audience)> issue;  // null: no tokens
  std::string caPem;  // the cluster CA, as ca.crt
};
// A token file the agent keeps fresh (re-issued once 80% of its life has passed).
struct TokenFile {
  std::string path;
  int64_t seconds = 3600;
  std::string audience;
  std::chrono::steady_clock::time_point issued;
  mode_t mode = 0644;  // and owner, as the kubelet sets them (see prepareVolumes)
  uid_t uid = uid_t(-1);
  gid_t gid = gid_t(-1);
};
inline constexpr const char* kServiceAccountVolume = "kube-api-access";
inline constexpr const char* kServiceAccountMountPath = "/var/run/secrets/kubernetes.io/serviceaccount";
// Writes (or rewrites) a token file atomically.
Status writeToken(TokenFile& file, const TokenSource& tokens);

// Materialises the pod's volumes under `podDir`/volumes, owned as the kubelet owns them: with
// spec.securityContext.fsGroup every volume but hostPath belongs to that group (group read, and
// write where the volume is writable; setgid directories; fsGroupChangePolicy OnRootMismatch
// skips a tree whose root is already right); emptyDir directories are 0777 and claims are made
// 0777 once, as the kubelet and local-path-provisioner make them; configMap, secret, downwardAPI
// and projected files get their mode or defaultMode (0644), and token files 0600 owned by the
// pod's user when every container names the same runAsUser, or when there is an fsGroup.
// persistentVolumeClaims live longer, in
// `claimsDir`/<volumeName> (node-local, like k3s' local-path). A missing (non-optional) ConfigMap,
// Secret or claim is an error naming it, as the kubelet reports it.
// With `tokens`, projected serviceAccountToken sources get tokens and, unless the pod or its
// service account opts out (automountServiceAccountToken: false), a kube-api-access volume holds
// token, ca.crt and namespace for every container at the usual path. Token files to refresh are
// added to `tokenFiles`.
Result<std::map<std::string, PreparedVolume>> prepareVolumes(const boost::json::value& pod, const std::string& podDir,
                                                              const std::string& claimsDir, client::Client& client,
                                                              const TokenSource* tokens = nullptr, std::vector<TokenFile>* tokenFiles = nullptr);
// The mounts for one container's volumeMounts. A subPath is resolved inside its volume and bound
// at a mount point under `subPathDir` (bindSubPath), which the runtime then mounts.
Result<std::vector<runtime::MountSpec>> mountsFor(const boost::json::value& container,
                                                  const std::map<std::string, PreparedVolume>& volumes, const std::string& subPathDir);

// Opens `subPath` inside `volumeDir` with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), so
// neither ".." nor a symlink the pod planted (`link -> /`, CVE-2017-1002101) leads out of the
// volume; missing directories are made one component at a time below fds already checked. The
// result is bind-mounted at `mountPoint` through /proc/self/fd/N: what was checked is what is
// mounted, even if the pod swaps a component for a link meanwhile.
Status bindSubPath(const std::string& volumeDir, const std::string& subPath, const std::string& mountPoint);
// Where a container's subPath binds live (as the kubelet's volume-subpaths/<container>).
inline std::string subPathDirOf(const std::string& podDir, const std::string& container) { return podDir + "/volume-subpaths/" + container; }
// Unmounts every subPath bind under `podDir` (before the pod's directory is removed: removing it
// with a bind still mounted would delete the volume's files through it).
void unmountSubPaths(const std::string& podDir);

}  // namespace skiff::agent
