// EventRecorder: how controllers and the agent say what they did and why, as core/v1 Events
// (`skiff events`, `kubectl get events`, `skiff describe`). Recording never blocks the caller:
// events go through a bounded queue written by one thread; a repeat of the same event (object,
// reason, message) within the last minutes bumps its count instead of making a new object, and
// when more than 10,000 wait, new ones are dropped (events are best-effort, as in Kubernetes).
#pragma once
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include <boost/json/value.hpp>

#include "client/client.h"

namespace skiff::client {

class EventRecorder {
 public:
  EventRecorder(Client& client, std::string component, std::string host = "");
  ~EventRecorder();
  void normal(const boost::json::value& object, const std::string& reason, const std::string& message) {
    record(object, "Normal", reason, message);
  }
  void warning(const boost::json::value& object, const std::string& reason, const std::string& message) {
    record(object, "Warning", reason, message);
  }
  void record(const boost::json::value& object, const std::string& type, const std::string& reason, const std::string& message);
  // Waits until everything queued so far is written (tests).
  void flush();

 private:
  struct Pending {
    boost::json::object involved;
    std::string ns, type, reason, message;
  };
  void run();
  void write(const Pending& p);

  Client& client_;
  std::string component_, host_;
  std::mutex mutex_;
  std::condition_variable cv_, idle_;
  std::deque<Pending> queue_;
  bool writing_ = false, stopping_ = false;
  std::map<std::string, std::pair<std::string, int64_t>> recent_;  // dedup key -> (event name, count)
  std::thread thread_;
};

}  // namespace skiff::client
