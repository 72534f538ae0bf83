// The console's charts: CPU and memory of the node and the proxy's traffic, sampled every 10 s
// into a ring that holds the last hour (360 samples, a few KiB). Served as JSON at
// /skiff/v1/history.
#pragma once
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace skiff::apiserver { class NodeClient; }

namespace skiff::console {

struct Sample {
  int64_t unixSeconds = 0;
  double cpuCores = 0;      // node CPU in use
  double memoryBytes = 0;   // node memory in use
  double requests = 0;      // proxied requests so far (cumulative)
  double errors = 0;        // of which answered 5xx (cumulative)
};

// Samples summed over every node server (CPU, memory, the node proxies' request totals).
std::function<Sample()> sampleNodes(apiserver::NodeClient& nodes);

class History {
 public:
  using Source = std::function<Sample()>;
  explicit History(Source source, std::chrono::milliseconds interval = std::chrono::seconds(10), size_t capacity = 360);
  ~History();
  void start();
  void stop();
  // {"intervalSeconds":10,"samples":[{"t":..,"cpu":..,"memory":..,"rps":..,"errorRate":..}]}
  std::string json() const;

 private:
  Source source_;
  std::chrono::milliseconds interval_;
  size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Sample> samples_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace skiff::console
