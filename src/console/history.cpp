#include "console/history.h"

#include "apiserver/node_client.h"

#include <boost/json.hpp>

namespace skiff::console {

std::function<Sample()> sampleNodes(apiserver::NodeClient& nodes) {
  return [&nodes] {
    Sample s;
    for (const auto& n : nodes.usage()) {
      s.cpuCores += n.cpuCores;
      s.memoryBytes += double(n.memoryWorkingSet);
    }
    apiserver::NodeRequests r = nodes.requests();
    s.requests = double(r.requests);
    s.errors = double(r.errors);
    return s;
  };
}

History::History(Source source, std::chrono::milliseconds interval, size_t capacity)
    : source_(std::move(source)), interval_(interval), capacity_(capacity) {}

History::~History() { stop(); }

void History::start() {
  thread_ = std::thread([this] {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      lock.unlock();
      Sample s = source_();
      s.unixSeconds = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
      lock.lock();
      samples_.push_back(s);
      while (samples_.size() > capacity_) samples_.pop_front();
      cv_.wait_for(lock, interval_, [this] { return stopping_; });
    }
  });
}

void History::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::string History::json() const {
  std::lock_guard lock(mutex_);
  boost::json::array out;
  for (size_t i = 0; i < samples_.size(); ++i) {
    const Sample& s = samples_[i];
    double rps = 0, errorRate = 0;
    if (i > 0) {
      const Sample& p = samples_[i - 1];
      double dt = double(s.unixSeconds - p.unixSeconds);
      double dr = s.requests - p.requests, de = s.errors - p.errors;
      if (dt > 0 && dr >= 0) rps = dr / dt;
      if (dr > 0 && de >= 0) errorRate = de / dr;
    }
    out.push_back(boost::json::object{{"t", s.unixSeconds}, {"cpu", s.cpuCores}, {"memory", s.memoryBytes}, {"rps", rps}, {"errorRate", errorRate}});
  }
  return boost::json::serialize(boost::json::object{{"intervalSeconds", double(interval_.count()) / 1000.0}, {"samples", out}});
}

}  // namespace skiff::console
