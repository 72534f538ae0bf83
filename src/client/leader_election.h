// LeaderElector: one of several processes at a time runs a set of loops, through a
// coordination.k8s.io/v1 Lease, with client-go's semantics.
//
// The holder renews spec.renewTime every `retryPeriod`; the others watch for the record to stop
// changing. A candidate takes the lease only after it saw the same record, unchanged, for
// `leaseDuration` on its own clock (the holder's clock never matters, so skew between machines
// cannot cut a lease short). A holder that has not renewed within `renewDeadline` stops leading
// before anyone else may start (renewDeadline < leaseDuration), so two leaders never overlap by
// the lease's reckoning. Writes are optimistic (resourceVersion), so two candidates racing for a
// free lease cannot both win.
//
// Kubernetes' defaults are 15 s / 10 s / 2 s; skiff's are 2 s / 1.5 s / 250 ms so a dead
// leader's work moves in about two seconds. Lease objects hold whole seconds, so leaseDuration is
// rounded up in the stored record.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "client/client.h"

namespace skiff::client {

struct LeaderElectionConfig {
  std::string ns = "kube-system";
  std::string name = "skiff-controller-manager";
  std::string identity;  // unique per process: host name + a random suffix
  std::chrono::milliseconds leaseDuration{2000};
  std::chrono::milliseconds renewDeadline{1500};
  std::chrono::milliseconds retryPeriod{250};
  // Run on the elector's thread; onStartedLeading must return promptly (start loops, not run them).
  std::function<void()> onStartedLeading;
  std::function<void()> onStoppedLeading;
};

class LeaderElector {
 public:
  LeaderElector(Client& client, LeaderElectionConfig config);
  ~LeaderElector() { stop(); }
  void start();
  // Gives the lease up (if held) so another candidate need not wait it out, and stops.
  void stop();
  bool leading() const { return leading_.load(); }
  const std::string& identity() const { return config_.identity; }

 private:
  // One attempt to take or renew the lease; true when this process holds it afterwards.
  bool tryAcquireOrRenew();
  void run();
  void release();

  Client& client_;
  LeaderElectionConfig config_;
  std::atomic<bool> leading_{false};
  // What was last seen of the record and when (on our clock), to tell a live holder from a dead one.
  std::string observedRecord_;
  std::chrono::steady_clock::time_point observedAt_;
  std::chrono::steady_clock::time_point lastRenew_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

// The RFC 3339 time with microseconds that Lease's MicroTime fields hold.
std::string microTimeNow();

}  // namespace skiff::client
