#include "store/etcd/event_history.h"

namespace skiff::store::etcd {

class EventHistory::Handle final : public Watch {
 public:
  Handle(std::weak_ptr<EventHistory> history, uint64_t id) : history_(std::move(history)), id_(id) {}
  ~Handle() override {
    if (auto h = history_.lock()) h->unwatch(id_);
  }

 private:
  std::weak_ptr<EventHistory> history_;
  uint64_t id_;
};

EventHistory::EventHistory(size_t limit, int64_t compactedRevision)
    : limit_(limit), compactedRevision_(compactedRevision), progressRevision_(compactedRevision) {}

Result<std::unique_ptr<Watch>> EventHistory::watch(std::string prefix, int64_t afterRevision, WatchCallback callback) {
  std::lock_guard lock(mutex_);
  if (afterRevision < compactedRevision_)
    return Error::gone("too old resource version: " + std::to_string(afterRevision) + " (" + std::to_string(compactedRevision_) + ")");
  for (const Event& e : events_)
    if (e.revision > afterRevision && e.kv.key.starts_with(prefix)) callback(e);
  uint64_t id = nextId_++;
  watchers_.emplace(id, Watcher{std::move(prefix), afterRevision, std::move(callback)});
  return std::unique_ptr<Watch>(std::make_unique<Handle>(weak_from_this(), id));
}

void EventHistory::append(std::vector<Event> events, int64_t progress) {
  {
    std::lock_guard lock(mutex_);
    for (Event& e : events) {
      // A watch may start after a revision the stream has not reached yet (a list read from
      // etcd a moment ahead of the stream): it skips what its list already held.
      for (auto& [id, w] : watchers_)
        if (e.revision > w.afterRevision && e.kv.key.starts_with(w.prefix)) w.callback(e);
      events_.push_back(std::move(e));
    }
    progressRevision_ = std::max(progressRevision_, progress);
    trim();
  }
  progressed_.notify_all();
}

void EventHistory::trim() {
  while (events_.size() > limit_) {
    compactedRevision_ = events_.front().revision;
    events_.pop_front();
  }
}

void EventHistory::compact(int64_t revision) {
  std::lock_guard lock(mutex_);
  while (!events_.empty() && events_.front().revision <= revision) events_.pop_front();
  compactedRevision_ = std::max(compactedRevision_, std::min(revision, progressRevision_));
}

void EventHistory::restartAfter(int64_t revision) {
  {
    std::lock_guard lock(mutex_);
    events_.clear();
    compactedRevision_ = std::max(compactedRevision_, revision);
    progressRevision_ = std::max(progressRevision_, revision);
  }
  progressed_.notify_all();
}

bool EventHistory::waitForProgress(int64_t revision, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return progressed_.wait_for(lock, timeout, [&] { return progressRevision_ >= revision; });
}

int64_t EventHistory::compactedRevision() {
  std::lock_guard lock(mutex_);
  return compactedRevision_;
}

int64_t EventHistory::progressRevision() {
  std::lock_guard lock(mutex_);
  return progressRevision_;
}

void EventHistory::unwatch(uint64_t id) {
  std::lock_guard lock(mutex_);
  watchers_.erase(id);
}

}  // namespace skiff::store::etcd
