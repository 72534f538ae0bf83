// Certificates are renewed between 70% and 90% of their lifetime, and a renewer whose renewal
// fails keeps trying instead of giving up.
#include "pki/renewal.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "pki/pki.h"

namespace skiff::pki {
namespace {

TEST(CertificateRenewer, RenewsBetweenSeventyAndNinetyPercentOfTheLifetime) {
  auto ca = CertificateAuthority::ephemeral();
  ASSERT_TRUE(ca);
  CertificateRequest request{"node-1", "system:nodes", {}, false, true};
  request.lifetime = std::chrono::hours(100);
  auto cert = ca->issueCertificate(request);
  ASSERT_TRUE(cert) << cert.error().message;
  auto v = certificateValidity(cert->certPem);
  ASSERT_TRUE(v);
  auto lifetime = v->notAfter - v->notBefore;
  auto near = [](auto a, auto b) { return (a > b ? a - b : b - a) < std::chrono::milliseconds(1); };
  EXPECT_TRUE(near(CertificateRenewer::renewalTime(cert->certPem, 0.0), v->notBefore + lifetime * 7 / 10));
  EXPECT_TRUE(near(CertificateRenewer::renewalTime(cert->certPem, 1.0), v->notBefore + lifetime * 9 / 10));
  auto mid = CertificateRenewer::renewalTime(cert->certPem, 0.5);
  EXPECT_GT(mid, v->notBefore + lifetime * 7 / 10);
  EXPECT_LT(mid, v->notBefore + lifetime * 9 / 10);
  auto due = CertificateRenewer::renewalTime("not a certificate", 0.5);
  EXPECT_LE(due, std::chrono::system_clock::now()) << "unreadable means due now";
}

TEST(CertificateRenewer, RetriesAFailedRenewalAndStopsPromptly) {
  auto ca = CertificateAuthority::ephemeral();
  ASSERT_TRUE(ca);
  CertificateRequest request{"node-1", "system:nodes", {}, false, true};
  request.lifetime = std::chrono::seconds(1);  // with the CA's backdating, due at once
  auto expiring = ca->issueCertificate(request);
  ASSERT_TRUE(expiring);
  request.lifetime = std::chrono::hours(24);
  auto fresh = ca->issueCertificate(request);
  ASSERT_TRUE(fresh);
  std::atomic<int> calls{0};
  CertificateRenewer renewer("a test certificate", expiring->certPem, [&](const std::function<bool()>&) -> Result<std::string> {
    if (++calls == 1) return Error::unavailable("the signer is away");
    return fresh->certPem;
  });
  renewer.start();
  for (int i = 0; i < 50 && calls < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(calls.load(), 2) << "a failed renewal must be retried (after 1 s)";
  auto before = std::chrono::steady_clock::now();
  renewer.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(2)) << "stop waits out the next renewal (hours away)";
  EXPECT_EQ(calls.load(), 2) << "a fresh certificate is not renewed again at once";
}

}  // namespace
}  // namespace skiff::pki
