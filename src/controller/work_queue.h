// WorkQueue: the controllers' queue of keys to reconcile, as in Kubernetes' client-go.
//
// A key waiting in the queue is stored once however often it is added; a key being processed is
// not handed to another worker, and if it is added meanwhile it is queued again when done.
// Failed keys come back after an exponential back-off (5 ms doubling to 30 s) so a controller
// never hot-loops. Thread-safe.
#pragma once
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

namespace skiff::controller {

class WorkQueue {
 public:
  using Clock = std::chrono::steady_clock;

  void add(const std::string& key);
  void addAfter(const std::string& key, Clock::duration delay);
  // Re-adds after the key's back-off, which doubles with each consecutive failure.
  void retry(const std::string& key);
  // Resets the key's back-off after a successful reconcile.
  void forget(const std::string& key);
  // Blocks until a key is ready or the queue shuts down (nullopt).
  std::optional<std::string> get();
  // Marks a key from get() as processed.
  void done(const std::string& key);
  void shutDown();
  size_t depth();

 private:
  void promoteDueLocked(Clock::time_point now);

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::string> ready_;
  std::set<std::string> queued_;      // in ready_
  std::set<std::string> processing_;
  std::set<std::string> dirty_;       // added while processing
  std::multimap<Clock::time_point, std::string> delayed_;
  std::map<std::string, int> failures_;
  bool shutdown_ = false;
};

}  // namespace skiff::controller
