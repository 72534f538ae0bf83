#include "controller/work_queue.h"

#include <algorithm>

namespace skiff::controller {

void WorkQueue::add(const std::string& key) {
  std::lock_guard lock(mutex_);
  if (shutdown_) return;
  if (processing_.count(key)) {
    dirty_.insert(key);
    return;
  }
  if (queued_.insert(key).second) {
    ready_.push_back(key);
    cv_.notify_one();
  }
}

void WorkQueue::addAfter(const std::string& key, Clock::duration delay) {
  if (delay <= Clock::duration::zero()) return add(key);
  std::lock_guard lock(mutex_);
  if (shutdown_) return;
  delayed_.emplace(Clock::now() + delay, key);
  cv_.notify_one();
}

void WorkQueue::retry(const std::string& key) {
  int n;
  {
    std::lock_guard lock(mutex_);
    n = failures_[key]++;
  }
  auto delay = std::chrono::milliseconds(5) * (1LL << std::min(n, 13));
  addAfter(key, std::min<Clock::duration>(delay, std::chrono::seconds(30)));
}

void WorkQueue::forget(const std::string& key) {
  std::lock_guard lock(mutex_);
  failures_.erase(key);
}

void WorkQueue::promoteDueLocked(Clock::time_point now) {
  while (!delayed_.empty() && delayed_.begin()->first <= now) {
    std::string key = delayed_.begin()->second;
    delayed_.erase(delayed_.begin());
    if (processing_.count(key)) dirty_.insert(key);
    else if (queued_.insert(key).second) ready_.push_back(key);
  }
}

std::optional<std::string> WorkQueue::get() {
  std::unique_lock lock(mutex_);
  while (true) {
    if (shutdown_) return std::nullopt;
    promoteDueLocked(Clock::now());
    if (!ready_.empty()) {
      std::string key = std::move(ready_.front());
      ready_.pop_front();
      queued_.erase(key);
      processing_.insert(key);
      return key;
    }
    if (delayed_.empty()) cv_.wait(lock);
    else cv_.wait_until(lock, delayed_.begin()->first);
  }
}

void WorkQueue::done(const std::string& key) {
  std::lock_guard lock(mutex_);
  processing_.erase(key);
  if (dirty_.erase(key) && queued_.insert(key).second) {
    ready_.push_back(key);
    cv_.notify_one();
  }
}

void WorkQueue::shutDown() {
  std::lock_guard lock(mutex_);
  shutdown_ = true;
  cv_.notify_all();
}

size_t WorkQueue::depth() {
  std::lock_guard lock(mutex_);
  return ready_.size() + delayed_.size();
}

}  // namespace skiff::controller
