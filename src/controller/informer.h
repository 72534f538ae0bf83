// Informer: an in-memory cache of one resource type, kept current by a watch, as in client-go.
//
// Controllers read from informers and write through the Registry. Events reach the cache on the
// store's commit thread before the writer's call returns, so a controller always sees its own
// writes in the cache (no "expectations" bookkeeping needed in-process). Handlers run on that
// thread too: they must only enqueue work.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "apiserver/registry.h"

namespace skiff::controller {

using ObjectPtr = std::shared_ptr<const boost::json::value>;

class Informer {
 public:
  // type: ADDED, MODIFIED, DELETED; old is null for ADDED.
  using Handler = std::function<void(const std::string& type, const ObjectPtr& object, const ObjectPtr& old)>;

  Informer(apiserver::Registry& registry, const api::ResourceType& type) : registry_(registry), type_(type) {}
  void addHandler(Handler h) { handlers_.push_back(std::move(h)); }
  Status start();
  void stop() { watch_.reset(); }

  ObjectPtr get(const std::string& ns, const std::string& name) const;
  // Objects in `ns` ("" = all) matching `selector` (null = all).
  std::vector<ObjectPtr> list(const std::string& ns = "", const api::LabelSelector* selector = nullptr) const;
  size_t size() const;
  const api::ResourceType& type() const { return type_; }

 private:
  apiserver::Registry& registry_;
  const api::ResourceType& type_;
  std::vector<Handler> handlers_;
  mutable std::shared_mutex mutex_;
  std::map<std::string, ObjectPtr> objects_;  // "ns/name"
  std::unique_ptr<store::Watch> watch_;
};

std::string keyOf(const boost::json::value& object);  // "ns/name" or "name"
std::pair<std::string, std::string> splitKey(const std::string& key);

}  // namespace skiff::controller
