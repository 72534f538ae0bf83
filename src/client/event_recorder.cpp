#include "client/event_recorder.h"

#include <boost/json.hpp>
#include <random>

#include "api/object.h"

namespace skiff::client {
namespace json = boost::json;

EventRecorder::EventRecorder(Client& client, std::string component, std::string host)
    : client_(client), component_(std::move(component)), host_(std::move(host)), thread_([this] { run(); }) {}

EventRecorder::~EventRecorder() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void EventRecorder::record(const json::value& object, const std::string& type, const std::string& reason,
                           const std::string& message) {
  Pending p;
  p.involved = json::object{{"kind", api::stringAt(object, "kind")}, {"apiVersion", api::stringAt(object, "apiVersion")},
                            {"name", api::stringAt(object, "metadata.name")}, {"uid", api::stringAt(object, "metadata.uid")},
                            {"resourceVersion", api::stringAt(object, "metadata.resourceVersion")}};
  std::string ns = api::stringAt(object, "metadata.namespace");
  if (!ns.empty()) p.involved["namespace"] = ns;
  p.ns = ns.empty() ? "default" : ns;  // events about cluster-scoped objects live in default
  p.type = type;
  p.reason = reason;
  p.message = message.size() > 1024 ? message.substr(0, 1021) + "..." : message;
  std::lock_guard lock(mutex_);
  if (stopping_ || queue_.size() >= 10000) return;
  queue_.push_back(std::move(p));
  cv_.notify_one();
}

void EventRecorder::flush() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [&] { return queue_.empty() && !writing_; });
}

void EventRecorder::run() {
  std::unique_lock lock(mutex_);
  while (true) {
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    Pending p = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    lock.unlock();
    write(p);
    lock.lock();
    writing_ = false;
    if (queue_.empty()) idle_.notify_all();
  }
}

void EventRecorder::write(const Pending& p) {
  const api::ResourceType& eventType = *api::findByKind("v1", "Event");
  std::string now = api::rfc3339Now();
  std::string key = p.ns + "/" + std::string(p.involved.at("uid").as_string()) + "/" + p.reason + "/" + p.message;
  auto it = recent_.find(key);
  if (it != recent_.end()) {
    int64_t count = ++it->second.second;
    auto r = client_.patch(eventType, p.ns, it->second.first, PatchType::Merge,
                             json::object{{"count", count}, {"lastTimestamp", now}}, "");
    if (r) return;
    recent_.erase(it);  // gone (expired or deleted): make a new one
  }
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char suffix[17];
  std::snprintf(suffix, sizeof suffix, "%016llx", (unsigned long long)rng());
  std::string name = std::string(p.involved.at("name").as_string()) + "." + suffix;
  json::value event = json::object{
      {"metadata", json::object{{"name", name}, {"namespace", p.ns}}},
      {"involvedObject", p.involved},
      {"reason", p.reason},
      {"message", p.message},
      {"source", json::object{{"component", component_}, {"host", host_}}},
      {"firstTimestamp", now},
      {"lastTimestamp", now},
      {"count", 1},
      {"type", p.type},
      {"reportingComponent", component_},
      {"reportingInstance", host_}};
  auto r = client_.create(eventType, p.ns, event);
  if (r) {
    if (recent_.size() > 4096) recent_.clear();  // a small window is enough to fold repeats
    recent_[key] = {name, 1};
  }
}

}  // namespace skiff::client
