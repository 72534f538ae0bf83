// The platform CA's workload identities: SPIFFE ids as the only name, client and server use,
// lifetimes, and refusals of ids that are not SPIFFE ids.
#include "pki/pki.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <filesystem>

namespace skiff::pki {
namespace {

X509* parsePem(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), int(pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return cert;
}

TEST(CertificateAuthority, IssuesSpiffeIdentitiesSignedByTheCa) {
  auto ca = CertificateAuthority::ephemeral();
  ASSERT_TRUE(ca) << ca.error().message;
  auto id = ca->issue(workloadSpiffeId("cluster.local", "shop", "frontend"), std::chrono::seconds(3600));
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(id->spiffeId, "spiffe://cluster.local/ns/shop/sa/frontend");
  X509* cert = parsePem(id->certPem);
  X509* caCert = parsePem(ca->certPem());
  ASSERT_TRUE(cert && caCert);
  EXPECT_EQ(X509_verify(cert, X509_get0_pubkey(caCert)), 1);
  // The URI SAN is the identity; both TLS roles are allowed.
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  ASSERT_NE(names, nullptr);
  ASSERT_EQ(sk_GENERAL_NAME_num(names), 1);
  const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, 0);
  ASSERT_EQ(n->type, GEN_URI);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(n->d.uniformResourceIdentifier))), id->spiffeId);
  GENERAL_NAMES_free(names);
  EXPECT_NE(X509_get_extended_key_usage(cert) & XKU_SSL_CLIENT, 0u);
  EXPECT_NE(X509_get_extended_key_usage(cert) & XKU_SSL_SERVER, 0u);
  // Valid now, expiring after the lifetime asked for.
  time_t in59m = time(nullptr) + 59 * 60, in61m = time(nullptr) + 61 * 60;
  EXPECT_GT(X509_cmp_time(X509_get0_notAfter(cert), &in59m), 0);
  EXPECT_LT(X509_cmp_time(X509_get0_notAfter(cert), &in61m), 0);
  EXPECT_LT(X509_cmp_time(X509_get0_notBefore(cert), nullptr), 0);
  // Every issue is a new key and serial (renewal).
  auto again = ca->issue(id->spiffeId, std::chrono::seconds(3600));
  ASSERT_TRUE(again);
  EXPECT_NE(again->serial, id->serial);
  EXPECT_NE(again->keyPem, id->keyPem);
  X509_free(cert);
  X509_free(caCert);
}

// Component certificates (node servers, the API server's kubelet-client identity): the names asked
// for, the one TLS role asked for, and refusals of requests that would make a useless certificate.
TEST(CertificateAuthority, IssuesComponentCertificatesForTheirNamesAndRole) {
  auto ca = CertificateAuthority::ephemeral();
  ASSERT_TRUE(ca);
  auto serving = ca->issueCertificate({"node-1", "system:nodes", {"node-1", "10.0.0.7"}, true, false});
  ASSERT_TRUE(serving) << serving.error().message;
  X509* cert = parsePem(serving->certPem);
  X509* caCert = parsePem(ca->certPem());
  ASSERT_TRUE(cert && caCert);
  EXPECT_EQ(X509_verify(cert, X509_get0_pubkey(caCert)), 1);
  EXPECT_EQ(X509_check_host(cert, "node-1", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(cert, "10.0.0.7", 0), 1);
  EXPECT_NE(X509_check_ip_asc(cert, "10.0.0.8", 0), 1);
  EXPECT_NE(X509_get_extended_key_usage(cert) & XKU_SSL_SERVER, 0u);
  EXPECT_EQ(X509_get_extended_key_usage(cert) & XKU_SSL_CLIENT, 0u);
  X509_free(cert);

  auto client = ca->issueCertificate({"kube-apiserver-kubelet-client", "system:masters", {}, false, true});
  ASSERT_TRUE(client) << client.error().message;
  cert = parsePem(client->certPem);
  char cn[128] = {0}, o[128] = {0};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_organizationName, o, sizeof o);
  EXPECT_STREQ(cn, "kube-apiserver-kubelet-client");
  EXPECT_STREQ(o, "system:masters");
  EXPECT_NE(X509_get_extended_key_usage(cert) & XKU_SSL_CLIENT, 0u);
  EXPECT_EQ(X509_get_extended_key_usage(cert) & XKU_SSL_SERVER, 0u);
  X509_free(cert);
  X509_free(caCert);

  EXPECT_FALSE(ca->issueCertificate({"", "", {"a"}, true, false}));                 // no name
  EXPECT_FALSE(ca->issueCertificate({"n", "", {}, true, false}));                   // serving for no host
  EXPECT_FALSE(ca->issueCertificate({"n", "", {"a,DNS:evil.example"}, true, false}));  // a host that smuggles another
  EXPECT_FALSE(ca->issueCertificate({"n", "", {}, false, false}));                  // no role
}

TEST(CertificateAuthority, RefusesIdsThatAreNotSpiffeIds) {
  auto ca = CertificateAuthority::ephemeral();
  ASSERT_TRUE(ca);
  for (std::string bad : {"", "cluster.local/ns/a/sa/b", "https://cluster.local/ns/a", "spiffe://", "spiffe://cluster.local",
                          "spiffe://cluster.local/", "spiffe:///ns/a", "spiffe://td/ns/a,DNS:evil.example", "spiffe://td/a b"}) {
    auto r = ca->issue(bad, std::chrono::seconds(60));
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("SPIFFE"), std::string::npos) << r.error().message;
  }
  EXPECT_FALSE(ca->issue("spiffe://td/ns/a/sa/b", std::chrono::seconds(0)));
}

TEST(CertificateAuthority, OpensTheSameCaFromItsDirectory) {
  auto dir = std::filesystem::temp_directory_path() / ("skiff-pki-test-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  auto first = CertificateAuthority::open(dir.string());
  ASSERT_TRUE(first) << first.error().message;
  auto second = CertificateAuthority::open(dir.string());
  ASSERT_TRUE(second);
  EXPECT_EQ(first->certPem(), second->certPem());
  // The serving certificate made later is signed by the same CA.
  auto serving = ensureServingCertificate(dir.string(), {"127.0.0.1"});
  ASSERT_TRUE(serving);
  EXPECT_EQ(serving->caCertPem, first->certPem());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace skiff::pki
