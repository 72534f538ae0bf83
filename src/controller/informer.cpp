#include "controller/informer.h"

#include <boost/json.hpp>

#include "api/codec.h"
#include "api/object.h"

namespace skiff::controller {

std::string keyOf(const boost::json::value& o) {
  std::string ns = api::stringAt(o, "metadata.namespace");
  std::string name = api::stringAt(o, "metadata.name");
  return ns.empty() ? name : ns + "/" + name;
}

std::pair<std::string, std::string> splitKey(const std::string& key) {
  auto slash = key.find('/');
  if (slash == std::string::npos) return {"", key};
  return {key.substr(0, slash), key.substr(slash + 1)};
}

Status Informer::start() {
  auto w = registry_.watch(type_, "", {}, {}, 0, [this](apiserver::WatchEvent e) {
    ObjectPtr obj;
    if (e.raw) {
      auto parsed = api::decodeJson(*e.raw);
      if (!parsed) return;
      obj = std::make_shared<const boost::json::value>(std::move(*parsed));
    } else {
      obj = std::make_shared<const boost::json::value>(std::move(e.object));
    }
    std::string key = keyOf(*obj);
    ObjectPtr old;
    {
      std::unique_lock lock(mutex_);
      auto it = objects_.find(key);
      if (it != objects_.end()) old = it->second;
      if (e.type == "DELETED") objects_.erase(key);
      else objects_[key] = obj;
    }
    for (auto& h : handlers_) h(e.type, obj, old);
  });
  if (!w) return w.error();
  watch_ = std::move(*w);
  return {};
}

ObjectPtr Informer::get(const std::string& ns, const std::string& name) const {
  std::shared_lock lock(mutex_);
  auto it = objects_.find(ns.empty() ? name : ns + "/" + name);
  return it == objects_.end() ? nullptr : it->second;
}

std::vector<ObjectPtr> Informer::list(const std::string& ns, const api::LabelSelector* selector) const {
  std::vector<ObjectPtr> out;
  std::shared_lock lock(mutex_);
  auto it = ns.empty() ? objects_.begin() : objects_.lower_bound(ns + "/");
  for (; it != objects_.end(); ++it) {
    if (!ns.empty() && it->first.compare(0, ns.size() + 1, ns + "/") != 0) break;
    if (selector && !selector->matches(api::valueAt(*it->second, "metadata.labels"))) continue;
    out.push_back(it->second);
  }
  return out;
}

size_t Informer::size() const {
  std::shared_lock lock(mutex_);
  return objects_.size();
}

}  // namespace skiff::controller
