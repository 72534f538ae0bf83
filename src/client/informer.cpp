#include "client/informer.h"

#include <boost/json.hpp>

#include "api/codec.h"
#include "api/object.h"

namespace skiff::client {
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

void Informer::apply(const std::string& type, const store::Bytes& raw, const ObjectPtr& obj) {
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
      if (type == "DELETED") objects_.erase(it);
    }
    if (type != "DELETED") {
      index(key, entry, true);
      objects_[key] = std::move(entry);
    }
  }
  for (auto& h : handlers_) h(type, obj, nullptr);
}

void Informer::onEvent(WatchEvent e) {
  if (e.type == "ERROR") {
    // The server ended the watch for good (the revision is gone): list again.
    std::lock_guard lock(reflectorMutex_);
    relist_ = true;
    reflectorCv_.notify_all();
    return;
  }
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
  apply(e.type, raw, obj);
}

Status Informer::listAndWatch() {
  ListOptions options;
  options.labels = scope_.labels;
  options.fields = scope_.fields;
  auto listed = client_.list(type_, scope_.ns, options, false);
  if (!listed) return listed.error();
  // Make the cache the list: what is new or changed is ADDED/MODIFIED, what is gone DELETED.
  std::vector<std::pair<store::Bytes, ObjectPtr>> items;
  for (auto& raw : listed->rawItems)
    if (auto parsed = api::decodeJson(*raw)) items.emplace_back(raw, std::make_shared<const json::value>(std::move(*parsed)));
  for (auto& item : listed->items) {
    auto obj = std::make_shared<const json::value>(std::move(item));
    items.emplace_back(std::make_shared<const std::string>(json::serialize(*obj)), obj);
  }
  std::set<std::string> seen;
  for (auto& [raw, obj] : items) {
    std::string key = keyOf(*obj);
    seen.insert(key);
    store::Bytes had;
    {
      std::shared_lock lock(mutex_);
      if (auto it = objects_.find(key); it != objects_.end()) had = it->second.raw;
    }
    if (!had) apply("ADDED", raw, obj);
    else if (*had != *raw) apply("MODIFIED", raw, obj);
  }
  std::vector<store::Bytes> gone;
  {
    std::shared_lock lock(mutex_);
    for (const auto& [key, entry] : objects_)
      if (!seen.count(key)) gone.push_back(entry.raw);
  }
  for (auto& raw : gone)
    if (auto parsed = api::decodeJson(*raw)) apply("DELETED", raw, std::make_shared<const json::value>(std::move(*parsed)));
  synced_ = true;
  auto w = client_.watch(type_, scope_.ns, scope_.labels, scope_.fields, listed->revision,
                         [this](WatchEvent e) { onEvent(std::move(e)); });
  if (!w) return w.error();
  std::lock_guard lock(reflectorMutex_);
  watch_ = std::move(*w);
  return {};
}

Status Informer::start() {
  Status first = listAndWatch();
  {
    std::lock_guard lock(reflectorMutex_);
    relist_ = !first.ok();
  }
  reflector_ = std::thread([this] { reflect(); });
  return first;
}

void Informer::reflect() {
  auto backoff = std::chrono::milliseconds(200);
  std::unique_lock lock(reflectorMutex_);
  while (!stopping_) {
    if (!relist_) {
      reflectorCv_.wait(lock, [&] { return stopping_ || relist_; });
      continue;
    }
    relist_ = false;
    // Ends the old watch first (its thread must not deliver into the cache while it is replaced).
    std::unique_ptr<Watch> old = std::move(watch_);
    lock.unlock();
    old.reset();
    Status s = listAndWatch();
    lock.lock();
    if (s) {
      backoff = std::chrono::milliseconds(200);
      continue;
    }
    relist_ = true;
    reflectorCv_.wait_for(lock, backoff, [&] { return stopping_; });
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::chrono::seconds(5));
  }
}

void Informer::stop() {
  {
    std::lock_guard lock(reflectorMutex_);
    stopping_ = true;
    reflectorCv_.notify_all();
  }
  if (reflector_.joinable()) reflector_.join();
  std::unique_ptr<Watch> w;
  {
    std::lock_guard lock(reflectorMutex_);
    w = std::move(watch_);
  }
  w.reset();
}

bool Informer::waitForSync(std::chrono::milliseconds timeout) const {
  auto until = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(reflectorMutex_);
  while (!synced_ && std::chrono::steady_clock::now() < until)
    reflectorCv_.wait_for(lock, std::chrono::milliseconds(20));
  return synced_;
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

std::vector<std::string> Informer::nodesWithPods() const {
  std::vector<std::string> out;
  std::shared_lock lock(mutex_);
  for (const auto& [node, keys] : byNode_)
    if (!node.empty() && !keys.empty()) out.push_back(node);
  return out;
}

size_t Informer::size() const {
  std::shared_lock lock(mutex_);
  return objects_.size();
}

}  // namespace skiff::client

namespace skiff::client {

Informer& InformerSet::get(const char* apiVersion, const char* kind, Informer::Scope scope, const std::string& name) {
  auto& slot = informers_[std::string(apiVersion) + "/" + kind + (name.empty() ? "" : "#" + name)];
  if (!slot) slot = std::make_unique<Informer>(client_, *api::findByKind(apiVersion, kind), std::move(scope));
  return *slot;
}

Status InformerSet::start() {
  Status first;
  for (auto& [key, informer] : informers_) {
    if (!started_.insert(key).second) continue;
    if (Status s = informer->start(); !s && first) first = s;
  }
  return first;
}

void InformerSet::stop() {
  for (auto& [key, informer] : informers_) informer->stop();
}

}  // namespace skiff::client
