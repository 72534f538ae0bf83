// The watch side of the etcd store: the events of skiff's keys in revision order, as the etcd
// watch stream delivers them, kept in a bounded in-memory history (the SQLite store keeps the same
// of its own commits). A local watch replays the history after its revision, then follows; one
// asking for more than the history holds gets 410 Gone and relists, as with Kubernetes' watch cache.
//
// Threading: fed by one thread (the stream's), on which the callbacks run; the rest is safe from
// any thread. Watch handles may outlive the store.
#pragma once
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/store.h"

namespace skiff::store::etcd {

class EventHistory : public std::enable_shared_from_this<EventHistory> {
 public:
  // `compactedRevision`: the history starts after it.
  EventHistory(size_t limit, int64_t compactedRevision);

  Result<std::unique_ptr<Watch>> watch(std::string prefix, int64_t afterRevision, WatchCallback callback);
  // Appends `events` (in revision order, newer than anything before) and hands them to the
  // watches; afterwards every event up to `progress` has been delivered.
  void append(std::vector<Event> events, int64_t progress);
  // Drops events up to and including `revision`.
  void compact(int64_t revision);
  // Events up to `revision` were lost before the stream saw them: the history restarts after it.
  void restartAfter(int64_t revision);
  // Waits until every event up to `revision` has been delivered; false on timeout.
  bool waitForProgress(int64_t revision, std::chrono::milliseconds timeout);

  int64_t compactedRevision();
  int64_t progressRevision();

 private:
  struct Watcher {
    std::string prefix;
    int64_t afterRevision;
    WatchCallback callback;
  };
  class Handle;
  void unwatch(uint64_t id);
  void trim();

  const size_t limit_;
  std::mutex mutex_;
  std::condition_variable progressed_;
  std::deque<Event> events_;
  int64_t compactedRevision_;
  int64_t progressRevision_;
  std::map<uint64_t, Watcher> watchers_;
  uint64_t nextId_ = 1;
};

}  // namespace skiff::store::etcd
