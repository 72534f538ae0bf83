#include "pki/renewal.h"

#include <algorithm>
#include <random>

#include "api/object.h"
#include "common/log.h"
#include "pki/pki.h"

namespace skiff::pki {

std::chrono::system_clock::time_point CertificateRenewer::renewalTime(const std::string& certPem, double jitter) {
  auto v = certificateValidity(certPem);
  if (!v) return std::chrono::system_clock::now();
  auto lifetime = v->notAfter - v->notBefore;
  return v->notBefore + std::chrono::duration_cast<std::chrono::system_clock::duration>(lifetime * (0.7 + 0.2 * std::clamp(jitter, 0.0, 1.0)));
}

void CertificateRenewer::start() { thread_ = std::thread([this] { loop(); }); }

void CertificateRenewer::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void CertificateRenewer::loop() {
  std::mt19937 rng(std::random_device{}());
  std::uniform_real_distribution<double> jitter(0.0, 1.0);
  auto due = renewalTime(certPem_, jitter(rng));
  auto backoff = std::chrono::seconds(1);
  auto stopRequested = [this] {
    std::lock_guard lock(mutex_);
    return stopping_;
  };
  std::unique_lock lock(mutex_);
  for (;;) {
    if (cv_.wait_until(lock, due, [this] { return stopping_; })) return;
    lock.unlock();
    auto renewed = renew_(stopRequested);
    lock.lock();
    if (stopping_) return;
    if (renewed) {
      certPem_ = std::move(*renewed);
      due = renewalTime(certPem_, jitter(rng));
      backoff = std::chrono::seconds(1);
      auto v = certificateValidity(certPem_);
      log::info("certificates", "renewed " + what_ +
                                    (v ? " (valid until " + api::rfc3339(std::chrono::system_clock::to_time_t(v->notAfter)) + ")" : std::string()));
      continue;
    }
    log::warn("certificates", "renewing " + what_ + " failed (retrying in " + std::to_string(backoff.count()) + " s): " + renewed.error().message);
    due = std::chrono::system_clock::now() + backoff;
    backoff = std::min<std::chrono::seconds>(backoff * 2, std::chrono::minutes(5));
  }
}

}  // namespace skiff::pki
