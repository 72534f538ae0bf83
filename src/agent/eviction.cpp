#include "agent/eviction.h"

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>

#include <boost/json.hpp>
#include <set>

#include "api/object.h"
#include "api/quantity.h"

namespace skiff::agent {
namespace json = boost::json;

namespace {

StorageLimits::Limit limitOf(const std::string& name, const json::value* quantity) {
  StorageLimits::Limit l{name, -1, ""};
  if (!quantity) return l;
  l.bytes = api::quantityMilli(quantity) / 1000;
  l.text = quantity->is_string() ? std::string(quantity->get_string()) : std::to_string(l.bytes);
  return l;
}

}  // namespace

bool StorageLimits::any() const {
  if (pod.bytes >= 0) return true;
  for (const auto& d : emptyDirs)
    if (d.bytes >= 0) return true;
  return false;
}

StorageLimits storageLimitsOf(const json::value& pod) {
  StorageLimits out;
  bool binary = true;
  for (const char* list : {"spec.initContainers", "spec.containers"})
    if (const json::value* cs = api::valueAt(pod, list); cs && cs->is_array())
      for (const auto& c : cs->get_array()) {
        const json::value* limits = api::valueAt(c, "resources.limits");
        const json::value* q = limits && limits->is_object() ? limits->get_object().if_contains("ephemeral-storage") : nullptr;
        out.containers.push_back(limitOf(api::stringAt(c, "name"), q));
        const auto& l = out.containers.back();
        if (l.bytes < 0) continue;
        // The sum keeps the format of its first term, as resource.Quantity.Add does.
        if (out.pod.bytes < 0) binary = l.text.ends_with('i');
        out.pod.bytes = std::max<int64_t>(out.pod.bytes, 0) + l.bytes;
      }
  if (out.pod.bytes >= 0) out.pod.text = quantityText(out.pod.bytes, binary);
  if (const json::value* vols = api::valueAt(pod, "spec.volumes"); vols && vols->is_array())
    for (const auto& v : vols->get_array())
      if (const json::value* ed = api::valueAt(v, "emptyDir"); ed && api::stringAt(*ed, "medium") != "Memory")
        out.emptyDirs.push_back(limitOf(api::stringAt(v, "name"), api::valueAt(*ed, "sizeLimit")));
  return out;
}

std::optional<std::string> evictionMessage(const StorageLimits& limits, const StorageUsage& usage) {
  auto used = [](const std::map<std::string, int64_t>& m, const std::string& name) {
    auto it = m.find(name);
    return it == m.end() ? int64_t(0) : it->second;
  };
  for (const auto& d : limits.emptyDirs)
    if (d.bytes >= 0 && used(usage.emptyDirs, d.name) > d.bytes)
      return "Usage of EmptyDir volume \"" + d.name + "\" exceeds the limit \"" + d.text + "\". ";
  if (limits.pod.bytes >= 0) {
    int64_t total = 0;
    for (const auto& [name, bytes] : usage.containers) total += bytes;
    for (const auto& [name, bytes] : usage.emptyDirs) total += bytes;
    if (total > limits.pod.bytes) return "Pod ephemeral local storage usage exceeds the total limit of containers " + limits.pod.text + ". ";
  }
  for (const auto& c : limits.containers)
    if (c.bytes >= 0 && used(usage.containers, c.name) > c.bytes)
      return "Container " + c.name + " exceeded its local ephemeral storage limit \"" + c.text + "\". ";
  return std::nullopt;
}

namespace {
// nftw takes a plain function: the walk's state lives here for the calling thread.
thread_local int64_t walkBytes;
thread_local size_t walkLeft;
thread_local std::set<std::pair<dev_t, ino_t>>* walkLinks;
}  // namespace

int64_t diskUsage(const std::string& path, size_t maxEntries) {
  std::set<std::pair<dev_t, ino_t>> links;
  walkBytes = 0;
  walkLeft = maxEntries;
  walkLinks = &links;
  auto visit = [](const char*, const struct stat* st, int type, FTW*) -> int {
    if (walkLeft == 0) return 1;  // the budget is spent: stop, keep what was counted
    --walkLeft;
    if (type == FTW_NS) return 0;
    if (st->st_nlink > 1 && !S_ISDIR(st->st_mode) && !walkLinks->insert({st->st_dev, st->st_ino}).second) return 0;
    walkBytes += int64_t(st->st_blocks) * 512;
    return 0;
  };
  nftw(path.c_str(), visit, 8, FTW_PHYS | FTW_MOUNT);
  walkLinks = nullptr;
  return walkBytes;
}

std::string quantityText(int64_t bytes, bool binary) {
  static const char* const binarySuffixes[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
  static const char* const decimalSuffixes[] = {"", "k", "M", "G", "T", "P", "E"};
  int64_t base = binary ? 1024 : 1000;
  int step = 0;
  while (bytes != 0 && bytes % base == 0 && step < 6) {
    bytes /= base;
    ++step;
  }
  return std::to_string(bytes) + (binary ? binarySuffixes[step] : decimalSuffixes[step]);
}

}  // namespace skiff::agent
