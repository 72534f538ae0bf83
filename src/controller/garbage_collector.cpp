#include "controller/garbage_collector.h"

#include <boost/json.hpp>

#include "api/object.h"

namespace skiff::controller {
namespace json = boost::json;

namespace {
bool hasFinalizer(const json::value& o, const char* f) {
  const json::value* fins = api::valueAt(o, "metadata.finalizers");
  if (!fins || !fins->is_array()) return false;
  for (const auto& x : fins->get_array())
    if (x == json::value(f)) return true;
  return false;
}
}  // namespace

// Keys: "gone/<ns>/<uid>" for a deleted owner, "hold/<kind-index>/<ns>/<name>" for an owner held by
// a propagation finalizer.
GarbageCollector::GarbageCollector(client::Client& client, std::vector<client::Informer*> informers)
    : client_(client), informers_(std::move(informers)),
      loop_("garbage-collector", [this](const std::string& key) { return reconcile(key); }) {
  for (size_t i = 0; i < informers_.size(); ++i) {
    informers_[i]->addHandler([this, i](const std::string& type, const client::ObjectPtr& o, const client::ObjectPtr&) {
      std::string ns = api::stringAt(*o, "metadata.namespace");
      if (type == "DELETED") {
        loop_.queue().add("gone/" + ns + "/" + api::stringAt(*o, "metadata.uid"));
      } else if (api::valueAt(*o, "metadata.deletionTimestamp") &&
                 (hasFinalizer(*o, "orphan") || hasFinalizer(*o, "foregroundDeletion"))) {
        loop_.queue().add("hold/" + std::to_string(i) + "/" + ns + "/" + api::stringAt(*o, "metadata.name"));
      }
      // A dependent whose owner no longer exists (deleted while we were down) is collected too.
      if (type == "ADDED")
        if (const json::value* refs = api::valueAt(*o, "metadata.ownerReferences"); refs && refs->is_array())
          for (const auto& r : refs->get_array())
            loop_.queue().addAfter("check/" + ns + "/" + api::stringAt(r, "uid"), std::chrono::seconds(2));
    });
  }
}

std::vector<std::pair<client::Informer*, client::ObjectPtr>> GarbageCollector::dependents(const std::string& ns, const std::string& uid) {
  std::vector<std::pair<client::Informer*, client::ObjectPtr>> out;
  for (client::Informer* inf : informers_)
    for (const auto& o : inf->listByOwner(uid))
      if (api::stringAt(*o, "metadata.namespace") == ns) out.emplace_back(inf, o);
  return out;
}

Result<Requeue> GarbageCollector::reconcile(const std::string& key) {
  auto first = key.find('/');
  std::string kind = key.substr(0, first);
  std::string rest = key.substr(first + 1);
  if (kind == "gone" || kind == "check") {
    auto slash = rest.find('/');
    std::string ns = rest.substr(0, slash), uid = rest.substr(slash + 1);
    if (kind == "check") {
      // The owner exists if a dependent's reference names a live object with that uid.
      for (auto& [inf, dep] : dependents(ns, uid))
        for (const auto& r : api::valueAt(*dep, "metadata.ownerReferences")->get_array())
          if (api::stringAt(r, "uid") == uid)
            for (client::Informer* ownerInf : informers_)
              if (ownerInf->type().kind == api::stringAt(r, "kind"))
                if (auto owner = ownerInf->get(ns, api::stringAt(r, "name")); owner && api::stringAt(*owner, "metadata.uid") == uid)
                  return Requeue::done();
    }
    for (auto& [inf, dep] : dependents(ns, uid)) {
      if (api::valueAt(*dep, "metadata.deletionTimestamp")) continue;
      auto r = client_.remove(inf->type(), ns, api::stringAt(*dep, "metadata.name"));
      if (!r && r.error().code != 404) return r.error();
    }
    return Requeue::done();
  }
  // hold/<index>/<ns>/<name>
  auto s1 = rest.find('/');
  size_t index = std::stoul(rest.substr(0, s1));
  std::string nsName = rest.substr(s1 + 1);
  auto s2 = nsName.find('/');
  std::string ns = nsName.substr(0, s2), name = nsName.substr(s2 + 1);
  client::Informer* ownerInf = informers_[index];
  client::ObjectPtr owner = ownerInf->get(ns, name);
  if (!owner || !api::valueAt(*owner, "metadata.deletionTimestamp")) return Requeue::done();
  std::string uid = api::stringAt(*owner, "metadata.uid");
  bool orphan = hasFinalizer(*owner, "orphan");
  auto deps = dependents(ns, uid);
  for (auto& [inf, dep] : deps) {
    std::string depName = api::stringAt(*dep, "metadata.name");
    if (orphan) {
      json::array kept;
      for (const auto& r : api::valueAt(*dep, "metadata.ownerReferences")->get_array())
        if (api::stringAt(r, "uid") != uid) kept.push_back(r);
      auto r = client_.patch(inf->type(), ns, depName, client::PatchType::Merge,
                               json::object{{"metadata", json::object{{"ownerReferences", kept}}}}, "");
      if (!r && r.error().code != 404) return r.error();
    } else if (!api::valueAt(*dep, "metadata.deletionTimestamp")) {
      client::DeleteOptions fg;
      fg.propagationPolicy = "Foreground";  // foreground cascades down the whole tree
      auto r = client_.remove(inf->type(), ns, depName, fg);
      if (!r && r.error().code != 404) return r.error();
    }
  }
  if (!orphan && !deps.empty()) return Requeue::in(std::chrono::milliseconds(200));  // wait for them to go
  json::array fins;
  for (const auto& f : api::valueAt(*owner, "metadata.finalizers")->get_array())
    if (f != json::value(orphan ? "orphan" : "foregroundDeletion")) fins.push_back(f);
  auto r = client_.patch(ownerInf->type(), ns, name, client::PatchType::Merge,
                           json::object{{"metadata", json::object{{"finalizers", fins}}}}, "");
  if (!r && r.error().code != 404) return r.error();
  return Requeue::done();
}

}  // namespace skiff::controller
