// The mesh signer (skiff.dev/mesh-workload) gives a node the SPIFFE identities its proxy needs
// — its own, and the service accounts its pods run as — and nothing else; requests that are not
// mesh identities fail with the reason; finished requests are cleaned up.
#include "controller/csr_controller.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>

#include "api/object.h"
#include "common/base64.h"
#include "helpers/local_api.h"

namespace skiff::controller {
namespace {
namespace json = boost::json;

class CsrControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(api_.ready());
    client_ = &api_.client();
    csrs_ = std::make_unique<client::Informer>(*client_, csrType());
    nodes_ = std::make_unique<client::Informer>(*client_, *api::findByKind("v1", "Node"));
    pods_ = std::make_unique<client::Informer>(*client_, *api::findByKind("v1", "Pod"));
    for (auto* i : {csrs_.get(), nodes_.get(), pods_.get()}) ASSERT_TRUE(i->start().ok());
    auto ca = pki::CertificateAuthority::ephemeral();
    ASSERT_TRUE(ca);
    ca_ = std::make_unique<pki::CertificateAuthority>(std::move(*ca));
    ASSERT_TRUE(client_->create(*api::findByKind("v1", "Namespace"), "", json::object{{"metadata", json::object{{"name", "shop"}}}}).ok());
    ASSERT_TRUE(client_->create(*api::findByKind("v1", "Pod"), "shop",
                                json::object{{"metadata", json::object{{"name", "web-1"}}},
                                             {"spec", json::object{{"nodeName", "n1"}, {"serviceAccountName", "web"},
                                                                   {"containers", json::array{json::object{{"name", "c"}, {"image", "busybox"}}}}}}})
                    .ok());
  }
  void TearDown() override {
    for (auto* i : {csrs_.get(), nodes_.get(), pods_.get()}) i->stop();
  }
  static const api::ResourceType& csrType() { return *api::findByKind("certificates.k8s.io/v1", "CertificateSigningRequest"); }
  // A CSR as the API server stores it once the requester is known.
  void request(const std::string& name, const std::string& requester, pki::CertificateRequest what,
               const std::string& signer = kMeshWorkloadSigner) {
    auto kr = pki::makeCertificateRequest(what);
    ASSERT_TRUE(kr) << kr.error().message;
    json::value csr = json::object{
        {"metadata", json::object{{"name", name}}},
        {"spec", json::object{{"request", base64Encode(kr->requestPem)},
                              {"signerName", signer},
                              {"usages", json::array{"digital signature", "key encipherment", "client auth", "server auth"}},
                              {"username", requester},
                              {"groups", json::array{"system:nodes", "system:authenticated"}}}}};
    ASSERT_TRUE(client_->create(csrType(), "", std::move(csr)).ok());
  }
  static pki::CertificateRequest mesh(const std::string& uri) {
    pki::CertificateRequest r;
    r.uris = {uri};
    r.serverAuth = r.clientAuth = true;
    return r;
  }
  // Runs the controller until it stops changing the request; the conditions' types and whether a certificate came.
  std::string outcome(CsrController& c, const std::string& name) {
    for (int i = 0; i < 3; ++i) (void)c.reconcile(name);
    auto csr = client_->get(csrType(), "", name);
    if (!csr) return "gone";
    std::string out;
    for (const auto& cond : api::arrayAt(*csr, "status.conditions")) out += api::stringAt(cond, "type") + " ";
    if (!api::stringAt(*csr, "status.certificate").empty()) out += "issued";
    return out;
  }

  test_support::LocalApi api_{"csr"};
  client::LocalClient* client_ = nullptr;
  std::unique_ptr<client::Informer> csrs_, nodes_, pods_;
  std::unique_ptr<pki::CertificateAuthority> ca_;
};

TEST_F(CsrControllerTest, ANodeGetsItsOwnAndItsPodsMeshIdentities) {
  CsrOptions options;
  options.meshWorkloadGrace = std::chrono::seconds(0);
  CsrController controller(*client_, *csrs_, *nodes_, *pods_, *ca_, options);
  request("own", "system:node:n1", mesh("spiffe://cluster.local/node/n1"));
  request("pods", "system:node:n1", mesh("spiffe://cluster.local/ns/shop/sa/web"));
  EXPECT_EQ(outcome(controller, "own"), "Approved issued");
  EXPECT_EQ(outcome(controller, "pods"), "Approved issued");
  auto csr = client_->get(csrType(), "", "pods");
  auto cert = base64Decode(api::stringAt(*csr, "status.certificate"));
  ASSERT_TRUE(cert);
  auto id = pki::identityFromCertificate("spiffe://cluster.local/ns/shop/sa/web", *cert, "", ca_->certPem());
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_GT(id->notAfter, std::chrono::system_clock::now());
}

TEST_F(CsrControllerTest, ANodeGetsNoOtherIdentity) {
  CsrOptions options;
  options.meshWorkloadGrace = std::chrono::seconds(0);
  CsrController controller(*client_, *csrs_, *nodes_, *pods_, *ca_, options);
  request("other-node", "system:node:n1", mesh("spiffe://cluster.local/node/n2"));
  request("no-pod", "system:node:n1", mesh("spiffe://cluster.local/ns/shop/sa/admin"));
  request("not-mine", "system:node:n2", mesh("spiffe://cluster.local/ns/shop/sa/web"));
  request("person", "jane", mesh("spiffe://cluster.local/ns/shop/sa/web"));
  request("foreign", "system:node:n1", mesh("spiffe://evil.example/ns/shop/sa/web"));
  pki::CertificateRequest host = mesh("spiffe://cluster.local/node/n1");
  host.hosts = {"n1.example"};
  request("with-host", "system:node:n1", host);
  EXPECT_EQ(outcome(controller, "other-node"), "Denied ");
  EXPECT_EQ(outcome(controller, "no-pod"), "Denied ");
  EXPECT_EQ(outcome(controller, "not-mine"), "Denied ") << "the pod runs on n1, not n2";
  EXPECT_EQ(outcome(controller, "person"), "") << "anyone but a node waits for a human";
  EXPECT_EQ(outcome(controller, "foreign"), "Failed ");
  EXPECT_EQ(outcome(controller, "with-host"), "Failed ");
}

TEST_F(CsrControllerTest, WaitsForThePodThatExplainsARequest) {
  CsrController controller(*client_, *csrs_, *nodes_, *pods_, *ca_);  // 30 s grace
  request("early", "system:node:n1", mesh("spiffe://cluster.local/ns/shop/sa/late"));
  auto r = controller.reconcile("early");
  ASSERT_TRUE(r);
  EXPECT_EQ(outcome(controller, "early"), "") << "neither approved nor denied while the pod may still be on its way";
}

TEST_F(CsrControllerTest, FinishedRequestsAreDeletedAfterTheirKeepTime) {
  CsrOptions options;
  options.keepFinished = std::chrono::seconds(0);
  CsrController controller(*client_, *csrs_, *nodes_, *pods_, *ca_, options);
  request("own", "system:node:n1", mesh("spiffe://cluster.local/node/n1"));
  (void)controller.reconcile("own");  // approve
  (void)controller.reconcile("own");  // sign
  EXPECT_TRUE(client_->get(csrType(), "", "own").ok()) << "kept until it is finished";
  (void)controller.reconcile("own");
  EXPECT_FALSE(client_->get(csrType(), "", "own").ok());
}

}  // namespace
}  // namespace skiff::controller
