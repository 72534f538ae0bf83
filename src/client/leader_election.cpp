#include "client/leader_election.h"

#include <boost/json.hpp>
#include <ctime>

#include "api/object.h"
#include "common/log.h"

namespace skiff::client {
namespace {

const api::ResourceType& leaseType() { return *api::findByKind("coordination.k8s.io/v1", "Lease"); }

// The fields that show a holder is alive: any change restarts the observation clock.
std::string recordOf(const json::value& lease) {
  return api::stringAt(lease, "spec.holderIdentity") + "|" + api::stringAt(lease, "spec.renewTime") + "|" +
         std::to_string(api::valueAt(lease, "spec.leaseTransitions") ? api::valueAt(lease, "spec.leaseTransitions")->to_number<int64_t>() : 0);
}

}  // namespace

std::string microTimeNow() {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() % 1000000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, static_cast<long long>(micros));
  return buf;
}

LeaderElector::LeaderElector(Client& client, LeaderElectionConfig config) : client_(client), config_(std::move(config)) {}

void LeaderElector::start() { thread_ = std::thread([this] { run(); }); }

void LeaderElector::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool LeaderElector::tryAcquireOrRenew() {
  auto now = std::chrono::steady_clock::now();
  int64_t durationSeconds = (config_.leaseDuration.count() + 999) / 1000;
  std::string stamp = microTimeNow();
  auto current = client_.get(leaseType(), config_.ns, config_.name);
  if (!current) {
    if (current.error().code != 404) return false;
    json::value lease = json::object{
        {"metadata", json::object{{"name", config_.name}, {"namespace", config_.ns}}},
        {"spec", json::object{{"holderIdentity", config_.identity}, {"leaseDurationSeconds", durationSeconds},
                              {"acquireTime", stamp}, {"renewTime", stamp}, {"leaseTransitions", 0}}}};
    auto created = client_.create(leaseType(), config_.ns, lease);
    if (!created) return false;
    observedRecord_ = recordOf(*created);
    observedAt_ = now;
    return true;
  }
  std::string record = recordOf(*current);
  if (record != observedRecord_) {
    observedRecord_ = record;
    observedAt_ = now;
  }
  std::string holder = api::stringAt(*current, "spec.holderIdentity");
  bool mine = holder == config_.identity;
  // Someone else holds it and was seen alive within the lease: wait.
  if (!mine && !holder.empty() && now - observedAt_ < config_.leaseDuration) return false;
  json::value next = *current;
  const json::value* had = api::valueAt(*current, "spec");
  json::object spec = had && had->is_object() ? had->as_object() : json::object();
  spec["holderIdentity"] = config_.identity;
  spec["leaseDurationSeconds"] = durationSeconds;
  spec["renewTime"] = stamp;
  if (!mine) {
    spec["acquireTime"] = stamp;
    int64_t transitions = spec.contains("leaseTransitions") ? spec["leaseTransitions"].to_number<int64_t>() : 0;
    spec["leaseTransitions"] = transitions + 1;  // as client-go: every change of holder counts
  }
  next.as_object()["spec"] = std::move(spec);
  // Optimistic: the write carries the resourceVersion read, so a racing candidate's write fails.
  auto updated = client_.update(leaseType(), config_.ns, config_.name, next, "");
  if (!updated) return false;
  observedRecord_ = recordOf(*updated);
  observedAt_ = now;
  return true;
}

void LeaderElector::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    bool held = tryAcquireOrRenew();
    auto now = std::chrono::steady_clock::now();
    lock.lock();
    if (stopping_) break;
    if (held) {
      lastRenew_ = now;
      if (!leading_) {
        leading_ = true;
        log::info("leader-election", config_.identity + " now leads " + config_.ns + "/" + config_.name);
        if (config_.onStartedLeading) {
          lock.unlock();
          config_.onStartedLeading();
          lock.lock();
        }
      }
    } else if (leading_ && now - lastRenew_ >= config_.renewDeadline) {
      // Could not renew in time: stop before another candidate may take over.
      leading_ = false;
      log::warn("leader-election", config_.identity + " lost " + config_.ns + "/" + config_.name + " (no renewal within the renew deadline)");
      if (config_.onStoppedLeading) {
        lock.unlock();
        config_.onStoppedLeading();
        lock.lock();
      }
    }
    cv_.wait_for(lock, config_.retryPeriod, [&] { return stopping_; });
  }
  bool wasLeading = leading_.exchange(false);
  lock.unlock();
  if (wasLeading) {
    if (config_.onStoppedLeading) config_.onStoppedLeading();
    release();
  }
}

// Hands the lease back by clearing the holder, so a successor takes it at once (client-go's
// ReleaseOnCancel).
void LeaderElector::release() {
  auto current = client_.get(leaseType(), config_.ns, config_.name);
  if (!current || api::stringAt(*current, "spec.holderIdentity") != config_.identity) return;
  json::value next = *current;
  auto& spec = next.as_object()["spec"].as_object();
  spec["holderIdentity"] = "";
  spec["leaseDurationSeconds"] = 1;
  spec["renewTime"] = microTimeNow();
  (void)client_.update(leaseType(), config_.ns, config_.name, next, "");
}

}  // namespace skiff::client
