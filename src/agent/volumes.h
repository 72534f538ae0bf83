// Pod volumes for the isolating runtimes: each volume of a pod becomes a host directory (or a
// tmpfs) under the pod's directory, and each container's volumeMounts become bind mounts of them.
// emptyDir (also medium: Memory), hostPath (with its type checks), configMap, secret, downwardAPI,
// persistentVolumeClaim and projected (configMap, secret, downwardAPI) are supported, with items, defaultMode and
// optional as Kubernetes reads them.
#pragma once
#include <boost/json.hpp>
#include <map>
#include <string>
#include <vector>

#include "apiserver/registry.h"
#include "common/result.h"
#include "runtime/runtime.h"

namespace skiff::agent {

struct PreparedVolume {
  std::string hostPath;       // what to bind (empty with tmpfs)
  bool tmpfs = false;
  std::string tmpfsOptions;
  bool readOnly = false;      // configMap, secret and friends are always read-only
};

// Materialises the pod's volumes under `podDir`/volumes; persistentVolumeClaims live longer, in
// `claimsDir`/<volumeName> (node-local, like k3s' local-path). A missing (non-optional) ConfigMap,
// Secret or claim is an error naming it, as the kubelet reports it.
Result<std::map<std::string, PreparedVolume>> prepareVolumes(const boost::json::value& pod, const std::string& podDir,
                                                              const std::string& claimsDir, apiserver::Registry& registry);
// The mounts for one container's volumeMounts.
Result<std::vector<runtime::MountSpec>> mountsFor(const boost::json::value& container,
                                                  const std::map<std::string, PreparedVolume>& volumes);

}  // namespace skiff::agent
