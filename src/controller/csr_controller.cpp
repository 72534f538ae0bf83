#include "controller/csr_controller.h"

#include <boost/json.hpp>

#include <algorithm>
#include <set>

#include "api/object.h"
#include "api/resources.h"
#include "auth/user.h"
#include "common/base64.h"
#include "common/log.h"

namespace skiff::controller {
namespace json = boost::json;
namespace {

// What the approver and signer need of a request, read once.
struct CsrView {
  std::string name, signer, requester, pem;
  std::vector<std::string> requesterGroups;
  std::set<std::string> usages;
  std::optional<int64_t> expirationSeconds;
  bool approved = false, denied = false, failed = false, issued = false;
};

CsrView csrViewOf(const json::value& csr) {
  CsrView v;
  v.name = api::stringAt(csr, "metadata.name");
  v.signer = api::stringAt(csr, "spec.signerName");
  v.requester = api::stringAt(csr, "spec.username");
  if (const json::value* g = api::valueAt(csr, "spec.groups"); g && g->is_array())
    for (const auto& x : g->as_array())
      if (x.is_string()) v.requesterGroups.emplace_back(x.as_string());
  if (const json::value* u = api::valueAt(csr, "spec.usages"); u && u->is_array())
    for (const auto& x : u->as_array())
      if (x.is_string()) v.usages.emplace(x.as_string());
  if (const json::value* x = api::valueAt(csr, "spec.expirationSeconds"); x && x->is_int64()) v.expirationSeconds = x->as_int64();
  if (auto pem = base64Decode(api::stringAt(csr, "spec.request"))) v.pem = *pem;
  if (const json::value* cs = api::valueAt(csr, "status.conditions"); cs && cs->is_array())
    for (const auto& c : cs->as_array()) {
      if (api::stringAt(c, "status") == "False") continue;
      std::string t = api::stringAt(c, "type");
      v.approved = v.approved || t == "Approved";
      v.denied = v.denied || t == "Denied";
      v.failed = v.failed || t == "Failed";
    }
  v.issued = !api::stringAt(csr, "status.certificate").empty();
  return v;
}

bool onlyUsages(const std::set<std::string>& have, std::initializer_list<const char*> allowed, const char* required) {
  if (!have.count(required)) return false;
  for (const auto& u : have)
    if (std::none_of(allowed.begin(), allowed.end(), [&](const char* a) { return u == a; })) return false;
  return true;
}

bool isNodeSubject(const pki::RequestedNames& n) {
  return n.commonName.starts_with(auth::kNodeUserPrefix) && n.commonName.size() > std::string_view(auth::kNodeUserPrefix).size() &&
         n.organizations == std::vector<std::string>{auth::kNodesGroup};
}

// Why `signer` cannot sign this request ("" when it can), as the signer's constraints say.
std::string signerRefusal(const CsrView& v, const pki::RequestedNames& n) {
  if (v.signer == kKubeletClientSigner) {
    if (!isNodeSubject(n)) return "subject must be CN=system:node:<name>, O=system:nodes";
    if (!n.dnsNames.empty() || !n.ipAddresses.empty() || !n.uris.empty()) return "a kubelet client certificate names no hosts";
    if (!onlyUsages(v.usages, {"client auth", "digital signature", "key encipherment"}, "client auth"))
      return "usages must be client auth (with digital signature, key encipherment)";
    return "";
  }
  if (v.signer == kKubeletServingSigner) {
    if (!isNodeSubject(n)) return "subject must be CN=system:node:<name>, O=system:nodes";
    if (n.dnsNames.empty() && n.ipAddresses.empty()) return "a serving certificate names at least one DNS name or IP address";
    if (!n.uris.empty()) return "a kubelet serving certificate names no URIs";
    if (!onlyUsages(v.usages, {"server auth", "digital signature", "key encipherment"}, "server auth"))
      return "usages must be server auth (with digital signature, key encipherment)";
    return "";
  }
  if (v.signer == kApiServerClientSigner) {
    if (n.commonName.empty()) return "a client certificate needs a common name (the user)";
    if (!onlyUsages(v.usages, {"client auth", "digital signature", "key encipherment"}, "client auth"))
      return "usages must be client auth (with digital signature, key encipherment)";
    return "";
  }
  return "not a signer of this cluster";
}

}  // namespace

CsrController::CsrController(client::Client& client, client::Informer& csrs, client::Informer& nodes, pki::CertificateAuthority ca,
                             CsrOptions options)
    : client_(client), csrs_(csrs), nodes_(nodes), ca_(std::move(ca)), options_(options),
      loop_("csr-controller", [this](const std::string& key) { return reconcile(key); }) {
  csrs_.addHandler([this](const std::string&, const client::ObjectPtr& csr, const client::ObjectPtr&) {
    loop_.queue().add(api::stringAt(*csr, "metadata.name"));
  });
}

Result<Requeue> CsrController::reconcile(const std::string& name) {
  client::ObjectPtr obj = csrs_.get("", name);
  if (!obj) return Requeue::done();
  CsrView v = csrViewOf(*obj);
  if (v.issued || v.denied || v.failed) return Requeue::done();
  if (v.signer != kKubeletClientSigner && v.signer != kKubeletServingSigner && v.signer != kApiServerClientSigner) return Requeue::done();
  const api::ResourceType& type = *api::findByKind("certificates.k8s.io/v1", "CertificateSigningRequest");
  auto names = pki::parseCertificateRequest(v.pem);
  auto condition = [&](const char* t, const std::string& reason, const std::string& message) {
    return json::object{{"type", t}, {"status", "True"}, {"reason", reason}, {"message", message},
                        {"lastUpdateTime", api::rfc3339Now()}, {"lastTransitionTime", api::rfc3339Now()}};
  };
  auto addCondition = [&](const char* subresource, json::object c) -> Status {
    json::value next = *obj;
    json::value& cs = api::ensurePath(next, "status.conditions");
    if (!cs.is_array()) cs = json::array();
    cs.as_array().push_back(std::move(c));
    auto r = client_.update(type, "", name, std::move(next), subresource);
    if (!r) return r.error();
    return {};
  };
  std::string refusal = names ? signerRefusal(v, *names) : names.error().message;
  if (!refusal.empty()) {
    log::warn("csr-controller", "cannot sign " + name + " for " + v.signer + ": " + refusal);
    if (Status s = addCondition("status", condition("Failed", "SignerValidationFailure", refusal)); !s) return s.error();
    return Requeue::done();
  }
  if (!v.approved) {
    std::string cn = names->commonName;
    bool approve = false;
    if (v.signer == kKubeletClientSigner) {
      bool bootstrapper = std::find(v.requesterGroups.begin(), v.requesterGroups.end(), auth::kBootstrappers) != v.requesterGroups.end();
      approve = bootstrapper || v.requester == cn;
    } else if (v.signer == kKubeletServingSigner &&
               (v.requester == cn || std::find(v.requesterGroups.begin(), v.requesterGroups.end(), auth::kMasters) != v.requesterGroups.end())) {
      std::string nodeName = cn.substr(std::string_view(auth::kNodeUserPrefix).size());
      client::ObjectPtr node = nodes_.get("", nodeName);
      std::set<std::string> known;
      if (node)
        if (const json::value* as = api::valueAt(*node, "status.addresses"); as && as->is_array())
          for (const auto& a : as->as_array()) known.insert(api::stringAt(a, "address"));
      if (node) known.insert(nodeName);
      approve = node != nullptr;
      for (const auto& h : names->dnsNames) approve = approve && known.count(h);
      for (const auto& h : names->ipAddresses) approve = approve && known.count(h);
      if (!approve) return Requeue::in(std::chrono::seconds(2));  // the Node may not show its addresses yet
    }
    if (!approve) return Requeue::done();  // a human decides (kubectl certificate approve|deny)
    if (Status s = addCondition("approval", condition("Approved", "AutoApproved", "approved by skiff's csr-controller for " + v.signer)); !s)
      return s.error();
    return Requeue::done();  // the update comes back through the informer and is signed then
  }
  std::chrono::seconds lifetime = options_.maxLifetime;
  if (v.expirationSeconds) lifetime = std::min(lifetime, std::chrono::seconds(*v.expirationSeconds));
  bool serving = v.signer == kKubeletServingSigner;
  auto cert = ca_.signRequest(v.pem, serving, !serving, lifetime);
  if (!cert) {
    if (Status s = addCondition("status", condition("Failed", "SignerValidationFailure", cert.error().message)); !s) return s.error();
    return Requeue::done();
  }
  json::value next = *obj;
  api::ensurePath(next, "status.certificate") = base64Encode(*cert);
  auto r = client_.update(type, "", name, std::move(next), "status");
  if (!r) return r.error();
  log::info("csr-controller", "signed " + name + " (" + names->commonName + ") for " + v.signer);
  return Requeue::done();
}

}  // namespace skiff::controller
