#include "controller/namespace_controller.h"

#include <algorithm>

#include <boost/json.hpp>

#include "api/codec.h"
#include "api/object.h"
#include "common/log.h"

namespace skiff::controller {

Status NamespaceController::start() {
  const api::ResourceType* ns = api::findByKind("v1", "Namespace");
  auto w = client_.watch(*ns, "", {}, {}, 0, [this](client::WatchEvent e) {
    // Only namespaces being deleted need work.
    std::string text = e.raw ? *e.raw : boost::json::serialize(e.object);
    if (e.type != "DELETED" && text.find("\"deletionTimestamp\"") != std::string::npos) {
      auto obj = e.raw ? api::decodeJson(*e.raw) : Result<boost::json::value>(e.object);
      if (obj) queue_.add(api::stringAt(*obj, "metadata.name"));
    }
  });
  if (!w) return w.error();
  watch_ = std::move(*w);
  worker_ = std::thread([this] { run(); });
  // Resync: terminating namespaces are looked at again even if an event was missed.
  resync_ = std::thread([this, ns] {
    std::unique_lock lock(stopMutex_);
    while (!stopCv_.wait_for(lock, std::chrono::seconds(10), [&] { return stopping_; })) {
      auto list = client_.list(*ns, "", {});
      if (!list) continue;
      for (const auto& item : list->items)
        if (api::valueAt(item, "metadata.deletionTimestamp")) queue_.add(api::stringAt(item, "metadata.name"));
    }
  });
  return {};
}

void NamespaceController::stop() {
  {
    std::lock_guard lock(stopMutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  stopCv_.notify_all();
  watch_.reset();
  queue_.shutDown();
  if (worker_.joinable()) worker_.join();
  if (resync_.joinable()) resync_.join();
}

void NamespaceController::run() {
  while (auto key = queue_.get()) {
    auto r = reconcile(*key);
    if (!r) {
      log::warn("namespace-controller", "namespace " + *key + ": " + r.error().message + " (will retry)");
      queue_.retry(*key);
    } else if (!*r) {
      queue_.addAfter(*key, std::chrono::milliseconds(500));  // objects still going away
    } else {
      queue_.forget(*key);
    }
    queue_.done(*key);
  }
}

Result<bool> NamespaceController::reconcile(const std::string& name) {
  const api::ResourceType* nsType = api::findByKind("v1", "Namespace");
  auto ns = client_.get(*nsType, "", name);
  if (!ns) return ns.error().code == 404 ? Result<bool>(true) : Result<bool>(ns.error());
  if (!api::valueAt(*ns, "metadata.deletionTimestamp")) return true;
  bool empty = true;
  std::vector<const api::ResourceType*> kinds;
  for (const auto& type : api::builtinResources())
    if (!type.createOnly) kinds.push_back(&type);
  if (customKinds_)
    for (const api::ResourceType* t : customKinds_()) {
      const api::ResourceType* stored = t->custom && t->custom->storedAs ? t->custom->storedAs : t;
      if (std::find(kinds.begin(), kinds.end(), stored) == kinds.end()) kinds.push_back(stored);  // each stored kind once
    }
  for (const api::ResourceType* kind : kinds) {
    const api::ResourceType& type = *kind;
    if (!type.namespaced) continue;
    auto list = client_.list(type, name, {});
    if (!list) return list.error();
    for (const auto& item : list->items) {
      empty = false;
      if (api::valueAt(item, "metadata.deletionTimestamp")) continue;
      auto removed = client_.remove(type, name, api::stringAt(item, "metadata.name"));
      if (!removed && removed.error().code != 404) return removed.error();
    }
  }
  if (!empty) return false;
  // Everything inside is gone: drop our finalizer; the API server deletes the namespace.
  auto finalized = client_.patch(*nsType, "", name, client::PatchType::Merge,
                                   boost::json::parse(R"({"spec":{"finalizers":[]}})"), "");
  if (!finalized && finalized.error().code != 404) return finalized.error();
  log::info("namespace-controller", "namespace " + name + " deleted");
  return true;
}

}  // namespace skiff::controller
