// CertificateRenewer: renews a certificate before it expires, on the kubelet certificate
// manager's schedule — at a random point between 70% and 90% of the current certificate's
// lifetime (chosen anew for each certificate, so a fleet issued together does not renew
// together). `renew` gets the new certificate (a CSR through the API, say) and installs it,
// returning its PEM; a failure is retried with backoff (1 s doubling to 5 min).
//
// Threading: one thread of its own; `renew` runs on it. stop() wakes and joins it.
#pragma once
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "common/result.h"

namespace skiff::pki {

class CertificateRenewer {
 public:
  using Renew = std::function<Result<std::string>(const std::function<bool()>& stopRequested)>;
  CertificateRenewer(std::string what, std::string currentCertPem, Renew renew)
      : what_(std::move(what)), certPem_(std::move(currentCertPem)), renew_(std::move(renew)) {}
  ~CertificateRenewer() { stop(); }
  void start();
  void stop();
  // When a certificate is due: notBefore + (0.7 + 0.2 * jitter) of its lifetime; now when unreadable.
  static std::chrono::system_clock::time_point renewalTime(const std::string& certPem, double jitter);

 private:
  void loop();

  std::string what_;  // for the log: "the node's client certificate"
  std::string certPem_;
  Renew renew_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
};

}  // namespace skiff::pki
