// Informer: a cache of one resource type, kept current by a watch, as in client-go.
//
// It holds the store's own immutable bytes of each object (shared, not copied) plus small
// indexes (labels, owner uids, node name); objects are parsed only when a controller asks for
// them. That keeps a 100,000-pod cluster's cache to a few hundred bytes per object on top of the
// store. Controllers read from informers and write through the Registry. Events reach the cache
// on the store's commit thread before the writer's call returns, so a controller always sees its
// own writes (no "expectations" bookkeeping needed in-process). Handlers run on that thread too:
// they must only enqueue work.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/json/value.hpp>

#include "apiserver/registry.h"

namespace skiff::controller {

using ObjectPtr = std::shared_ptr<const boost::json::value>;

class Informer {
 public:
  // type: ADDED, MODIFIED, DELETED. `old` is not provided (null): handlers re-read what they need.
  using Handler = std::function<void(const std::string& type, const ObjectPtr& object, const ObjectPtr& old)>;

  Informer(apiserver::Registry& registry, const api::ResourceType& type) : registry_(registry), type_(type) {}
  void addHandler(Handler h) { handlers_.push_back(std::move(h)); }
  Status start();
  void stop() { watch_.reset(); }

  ObjectPtr get(const std::string& ns, const std::string& name) const;
  // Objects in `ns` ("" = all) matching `selector` (null = all); only matches are parsed.
  std::vector<ObjectPtr> list(const std::string& ns = "", const api::LabelSelector* selector = nullptr) const;
  // Objects with an ownerReference to `ownerUid`.
  std::vector<ObjectPtr> listByOwner(const std::string& ownerUid) const;
  // Pods bound to `node` (spec.nodeName).
  std::vector<ObjectPtr> listByNode(const std::string& node) const;
  size_t size() const;
  const api::ResourceType& type() const { return type_; }

 private:
  struct Entry {
    store::Bytes raw;
    std::string labels;               // metadata.labels as JSON text: selectors parse just this
    std::vector<std::string> owners;  // ownerReference uids
    std::string node;                 // spec.nodeName
  };
  void index(const std::string& key, const Entry& e, bool add);
  std::vector<ObjectPtr> parseAll(const std::vector<store::Bytes>& raws) const;

  apiserver::Registry& registry_;
  const api::ResourceType& type_;
  std::vector<Handler> handlers_;
  mutable std::shared_mutex mutex_;
  std::map<std::string, Entry> objects_;  // "ns/name"
  std::unordered_map<std::string, std::set<std::string>> byOwner_, byNode_;
  std::unique_ptr<store::Watch> watch_;
};

std::string keyOf(const boost::json::value& object);  // "ns/name" or "name"
std::pair<std::string, std::string> splitKey(const std::string& key);

}  // namespace skiff::controller
