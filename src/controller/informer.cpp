#include "controller/informer.h"

#include <boost/json.hpp>

#include "api/codec.h"
#include "api/object.h"

namespace skiff::controller {
namespace json = boost::json;

std::string keyOf(const json::value& o) {
  std::string ns = api::stringAt(o, "metadata.namespace");
  std::string name = api::stringAt(o, "metadata.name");
  return ns.empty() ? name : ns + "/" + name;
}

std::pair<std::string, std::string> splitKey(const std::string& key) {
  auto slash = key.find('/');
  if (slash == std::string::npos) return {"", key};
  return {key.substr(0, slash), key.substr(slash + 1)};
}

void Informer::index(const std::string& key, const Entry& e, bool add) {
  auto apply = [&](std::unordered_map<std::string, std::set<std::string>>& idx, const std::string& v) {
    if (v.empty()) return;
    if (add) {
      idx[v].insert(key);
    } else if (auto it = idx.find(v); it != idx.end()) {
      it->second.erase(key);
      if (it->second.empty()) idx.erase(it);
    }
  };
  for (const auto& o : e.owners) apply(byOwner_, o);
  apply(byNode_, e.node);
}

Status Informer::start() {
  auto w = registry_.watch(type_, "", {}, {}, 0, [this](apiserver::WatchEvent e) {
    ObjectPtr obj;
    store::Bytes raw = e.raw;
    if (raw) {
      auto parsed = api::decodeJson(*raw);
      if (!parsed) return;
      obj = std::make_shared<const json::value>(std::move(*parsed));
    } else {
      obj = std::make_shared<const json::value>(std::move(e.object));
      raw = std::make_shared<const std::string>(json::serialize(*obj));
    }
    std::string key = keyOf(*obj);
    Entry entry;
    entry.raw = raw;
    if (const json::value* l = api::valueAt(*obj, "metadata.labels")) entry.labels = json::serialize(*l);
    if (const json::value* refs = api::valueAt(*obj, "metadata.ownerReferences"); refs && refs->is_array())
      for (const auto& r : refs->get_array()) entry.owners.push_back(api::stringAt(r, "uid"));
    entry.node = api::stringAt(*obj, "spec.nodeName");
    {
      std::unique_lock lock(mutex_);
      auto it = objects_.find(key);
      if (it != objects_.end()) {
        index(key, it->second, false);
        if (e.type == "DELETED") objects_.erase(it);
      }
      if (e.type != "DELETED") {
        index(key, entry, true);
        objects_[key] = std::move(entry);
      }
    }
    for (auto& h : handlers_) h(e.type, obj, nullptr);
  });
  if (!w) return w.error();
  watch_ = std::move(*w);
  return {};
}

std::vector<ObjectPtr> Informer::parseAll(const std::vector<store::Bytes>& raws) const {
  std::vector<ObjectPtr> out;
  out.reserve(raws.size());
  for (const auto& r : raws)
    if (auto parsed = api::decodeJson(*r)) out.push_back(std::make_shared<const json::value>(std::move(*parsed)));
  return out;
}

ObjectPtr Informer::get(const std::string& ns, const std::string& name) const {
  store::Bytes raw;
  {
    std::shared_lock lock(mutex_);
    auto it = objects_.find(ns.empty() ? name : ns + "/" + name);
    if (it == objects_.end()) return nullptr;
    raw = it->second.raw;
  }
  auto parsed = api::decodeJson(*raw);
  return parsed ? std::make_shared<const json::value>(std::move(*parsed)) : nullptr;
}

std::vector<ObjectPtr> Informer::list(const std::string& ns, const api::LabelSelector* selector) const {
  std::vector<store::Bytes> raws;
  {
    std::shared_lock lock(mutex_);
    auto it = ns.empty() ? objects_.begin() : objects_.lower_bound(ns + "/");
    for (; it != objects_.end(); ++it) {
      if (!ns.empty() && it->first.compare(0, ns.size() + 1, ns + "/") != 0) break;
      if (selector) {
        json::value labels = it->second.labels.empty() ? json::value() : json::parse(it->second.labels);
        if (!selector->matches(&labels)) continue;
      }
      raws.push_back(it->second.raw);
    }
  }
  return parseAll(raws);
}

std::vector<ObjectPtr> Informer::listByOwner(const std::string& ownerUid) const {
  std::vector<store::Bytes> raws;
  {
    std::shared_lock lock(mutex_);
    if (auto it = byOwner_.find(ownerUid); it != byOwner_.end())
      for (const auto& key : it->second) raws.push_back(objects_.at(key).raw);
  }
  return parseAll(raws);
}

std::vector<ObjectPtr> Informer::listByNode(const std::string& node) const {
  std::vector<store::Bytes> raws;
  {
    std::shared_lock lock(mutex_);
    if (auto it = byNode_.find(node); it != byNode_.end())
      for (const auto& key : it->second) raws.push_back(objects_.at(key).raw);
  }
  return parseAll(raws);
}

size_t Informer::size() const {
  std::shared_lock lock(mutex_);
  return objects_.size();
}

}  // namespace skiff::controller
