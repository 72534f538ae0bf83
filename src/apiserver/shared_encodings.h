// What every watcher of one event needs is computed once and shared: the decoded object that
// selectors are matched against, and the serialised watch frame. The store hands each watch
// callback the same immutable bytes (one shared_ptr) for an event, so those bytes' address, plus
// a tag, names the work; the watchers of one event ask one after another on the commit thread,
// so a small cache of recent entries answers nearly all of them.
//
// Threading: safe from any thread (one mutex per cache; entries are immutable once made).
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "store/store.h"

namespace skiff::apiserver {

template <class T>
class RecentCache {
 public:
  explicit RecentCache(size_t capacity) : capacity_(capacity) {}

  // The value for (bytes, tag), made by `make` the first time it is asked for.
  std::shared_ptr<const T> get(const store::Bytes& bytes, int64_t tag, const std::function<std::shared_ptr<const T>()>& make) {
    Key key{bytes.get(), tag};
    {
      std::lock_guard lock(mutex_);
      if (auto it = entries_.find(key); it != entries_.end()) return it->second.value;
    }
    std::shared_ptr<const T> value = make();  // outside the lock: decoding may be slow
    std::lock_guard lock(mutex_);
    auto [it, inserted] = entries_.emplace(key, Entry{bytes, value});
    if (!inserted) return it->second.value;
    order_.push_back(key);
    while (order_.size() > capacity_) {
      entries_.erase(order_.front());
      order_.pop_front();
    }
    return value;
  }

 private:
  using Key = std::pair<const void*, int64_t>;
  struct Entry {
    store::Bytes pin;  // keeps the address from being reused by other bytes while cached
    std::shared_ptr<const T> value;
  };
  size_t capacity_;
  std::mutex mutex_;
  std::map<Key, Entry> entries_;
  std::deque<Key> order_;
};

}  // namespace skiff::apiserver
