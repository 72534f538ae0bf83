// Informer: a cache of one resource type, kept current by list + watch, as in client-go.
//
// It holds each object's immutable JSON bytes (in-process: the store's own, shared, not copied)
// plus small indexes (labels, owner uids, node name); objects are parsed only when a component
// asks for them. That keeps a 100,000-pod cluster's cache to a few hundred bytes per object on
// top of the store. Components read from informers and write through the Client.
//
// The reflector lists, fills the cache, and watches from the list's revision. When the watch
// ends for good (a remote server no longer has the revision: ERROR 410) or the list fails (the
// servers are unreachable), a background thread lists again with backoff and hands handlers the
// differences, so the cache converges on the server's state. hasSynced() is true once a list has
// filled the cache: a node agent must not act on "no pods" before that.
//
// With the LocalClient, events reach the cache on the store's commit thread before the writer's
// call returns, so an in-process controller always sees its own writes (no "expectations"
// bookkeeping needed). Handlers run on the event's thread: they must only enqueue work.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/json/value.hpp>

#include "client/client.h"

namespace skiff::client {

using ObjectPtr = std::shared_ptr<const boost::json::value>;

class Informer {
 public:
  // type: ADDED, MODIFIED, DELETED. `old` is not provided (null): handlers re-read what they need.
  using Handler = std::function<void(const std::string& type, const ObjectPtr& object, const ObjectPtr& old)>;

  // What to cache: a namespace ("" = all) and selectors (a kubelet's pods: spec.nodeName=<node>).
  struct Scope {
    std::string ns;
    api::LabelSelector labels;
    api::FieldSelector fields;
  };
  Informer(Client& client, const api::ResourceType& type, Scope scope = {})
      : client_(client), type_(type), scope_(std::move(scope)) {}
  ~Informer() { stop(); }
  // Before start() only.
  void addHandler(Handler h) { handlers_.push_back(std::move(h)); }
  // Lists and watches. When the first list fails its error is returned and the reflector keeps
  // trying in the background (hasSynced() stays false until one succeeds).
  Status start();
  void stop();
  bool hasSynced() const { return synced_.load(); }
  // Waits up to `timeout` for hasSynced().
  bool waitForSync(std::chrono::milliseconds timeout) const;

  ObjectPtr get(const std::string& ns, const std::string& name) const;
  // Objects in `ns` ("" = all) matching `selector` (null = all); only matches are parsed.
  std::vector<ObjectPtr> list(const std::string& ns = "", const api::LabelSelector* selector = nullptr) const;
  // Objects with an ownerReference to `ownerUid`.
  std::vector<ObjectPtr> listByOwner(const std::string& ownerUid) const;
  // Pods bound to `node` (spec.nodeName).
  std::vector<ObjectPtr> listByNode(const std::string& node) const;
  // The nodes some cached pod is bound to (nothing is parsed).
  std::vector<std::string> nodesWithPods() const;
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
  // One cycle: list, make the cache the list (handlers see the differences), watch from there.
  Status listAndWatch();
  void onEvent(WatchEvent e);
  // Puts (or removes) one object in the cache and tells the handlers.
  void apply(const std::string& type, const store::Bytes& raw, const ObjectPtr& object);
  void reflect();  // the background thread: relists when asked to, with backoff

  Client& client_;
  const api::ResourceType& type_;
  Scope scope_;
  std::vector<Handler> handlers_;
  std::atomic<bool> synced_{false};
  mutable std::mutex reflectorMutex_;
  mutable std::condition_variable reflectorCv_;
  bool relist_ = false, stopping_ = false;
  std::thread reflector_;
  mutable std::shared_mutex mutex_;
  std::map<std::string, Entry> objects_;  // "ns/name"
  std::unordered_map<std::string, std::set<std::string>> byOwner_, byNode_;
  std::unique_ptr<store::Watch> watch_;
};

std::string keyOf(const boost::json::value& object);  // "ns/name" or "name"
std::pair<std::string, std::string> splitKey(const std::string& key);

}  // namespace skiff::client

namespace skiff::client {

// The informers of one process, one per kind, shared by every component that asks for the kind:
// components ask for theirs while being built, then start() starts them all at once (so every
// handler is in place before the first event).
class InformerSet {
 public:
  explicit InformerSet(Client& client) : client_(client) {}
  ~InformerSet() { stop(); }
  // The informer of `kind`; `scope` applies when this call makes it. `name` tells apart two
  // informers of one kind with different scopes ("" = the kind's shared one).
  Informer& get(const char* apiVersion, const char* kind, Informer::Scope scope = {}, const std::string& name = "");
  // Starts every informer not started yet; the first failure is returned (the others still start
  // and keep trying in the background).
  Status start();
  void stop();
  Client& client() { return client_; }

 private:
  Client& client_;
  std::map<std::string, std::unique_ptr<Informer>> informers_;
  std::set<std::string> started_;
};

}  // namespace skiff::client
