// Local ephemeral storage limits enforced as the kubelet's eviction manager enforces them: a pod
// whose disk-backed emptyDir passes its sizeLimit, whose total (containers' writable layers and
// logs plus its emptyDirs) passes the sum of its containers' `limits.ephemeral-storage`, or one
// of whose containers (writable layer and logs) passes its own limit is evicted, in that order of
// checks, with the kubelet's words.
//
// Pure decisions over plain data (storageLimitsOf, evictionMessage) and one bounded measurement
// (diskUsage); the agent's storage thread wires them to its pods.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/fwd.hpp>

namespace skiff::agent {

// What a pod's spec says about its local storage, read once.
struct StorageLimits {
  struct Limit {
    std::string name;     // container or volume
    int64_t bytes = -1;   // -1: none
    std::string text;     // as the kubelet prints it ("50Mi")
  };
  std::vector<Limit> containers;  // every container (init ones too), with or without a limit
  Limit pod;                      // the sum of the containers' limits, when any has one
  std::vector<Limit> emptyDirs;   // every disk-backed emptyDir, with or without sizeLimit
  // Whether there is anything to enforce (pods without limits are never measured).
  bool any() const;
};
StorageLimits storageLimitsOf(const boost::json::value& pod);

struct StorageUsage {
  std::map<std::string, int64_t> containers;  // writable layer + logs, by container
  std::map<std::string, int64_t> emptyDirs;   // by volume
};
// The eviction message when a limit is passed (usage strictly above it), else nullopt.
std::optional<std::string> evictionMessage(const StorageLimits& limits, const StorageUsage& usage);

// Bytes allocated under `path` (du's count: blocks, hard links once, not crossing mounts, not
// following symlinks), stopping after `maxEntries` entries so a tree of millions of files costs
// a bounded walk; what was counted until then is returned.
int64_t diskUsage(const std::string& path, size_t maxEntries);

// A byte count as Kubernetes prints a quantity of that format: the largest binary ("Mi") or
// decimal ("M") suffix that divides it.
std::string quantityText(int64_t bytes, bool binary);

}  // namespace skiff::agent
