// Store: a revisioned key-value store with watch, in etcd's model.
//
// One global revision counts every change; each key carries the revision that created it and the
// revision of its last change. Watches deliver every change after a given revision, in revision
// order, from a bounded history; asking for a revision older than the history (compacted) fails
// with 410 Gone so the client relists, as with etcd and Kubernetes.
//
// Writes are durable when they return. Values are opaque bytes; the API server stores JSON whose
// resourceVersion equals the write's revision, which is why writers pass a ValueBuilder that is
// handed the revision the write will get.
//
// Threading: every method is safe to call from any thread. Watch callbacks run on the store's
// delivery thread (SQLite: its commit thread; etcd: its watch stream's): they must be quick and
// must not call back into the store. A write returns after its event reached the callbacks.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace skiff::store {

using Bytes = std::shared_ptr<const std::string>;

struct KeyValue {
  std::string key;
  int64_t createRevision = 0;
  int64_t modRevision = 0;
  Bytes value;
};

enum class EventType { Put, Delete };

struct Event {
  EventType type = EventType::Put;
  int64_t revision = 0;
  KeyValue kv;          // for Delete: the last value, with modRevision = the deletion's revision
  Bytes previousValue;  // value before this change, if any
  bool created = false; // Put that created the key
};

struct RangeResult {
  std::vector<KeyValue> items;
  int64_t revision = 0;  // store revision the range was read at
  bool more = false;     // limit cut the range short
};

// Produces the value to store, given the revision the write is about to receive.
using ValueBuilder = std::function<std::string(int64_t revision)>;

// A live watch; destroying it stops delivery.
class Watch {
 public:
  virtual ~Watch() = default;
};

using WatchCallback = std::function<void(const Event&)>;

class Store {
 public:
  virtual ~Store() = default;

  virtual Result<KeyValue> get(std::string_view key) = 0;
  // Keys with `prefix`, in key order, strictly after `startAfter` (empty = from the start).
  // limit 0 means no limit. Reads fail (Unavailable) only when the store cannot be reached.
  virtual Result<RangeResult> range(std::string_view prefix, std::string_view startAfter, size_t limit) = 0;
  virtual Result<size_t> count(std::string_view prefix) = 0;

  // Fails with AlreadyExists when the key exists.
  virtual Result<KeyValue> create(std::string key, ValueBuilder build) = 0;
  // expectedModRevision 0 means unconditional. NotFound when absent, Conflict when stale.
  virtual Result<KeyValue> update(std::string key, int64_t expectedModRevision, ValueBuilder build) = 0;
  // Returns the deleted entry with modRevision = the deletion's revision.
  virtual Result<KeyValue> remove(std::string key, int64_t expectedModRevision) = 0;

  // Delivers every event with revision > afterRevision for keys under prefix. Gone (410) when
  // afterRevision is older than the retained history.
  virtual Result<std::unique_ptr<Watch>> watch(std::string prefix, int64_t afterRevision,
                                               WatchCallback callback) = 0;

  virtual int64_t revision() = 0;
  // Every event up to this revision has been handed to every watch callback. A watch that has
  // drained its callbacks after reading this may report it as progress (a bookmark).
  virtual int64_t progressRevision() = 0;
  // Oldest revision a watch can still resume after.
  virtual int64_t compactedRevision() = 0;
  // Drops history up to and including `revision`.
  virtual void compact(int64_t revision) = 0;
};

}  // namespace skiff::store
