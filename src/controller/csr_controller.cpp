#include "controller/csr_controller.h"

#include <boost/json.hpp>

#include <algorithm>
#include <ctime>
#include <set>

#include "api/object.h"
#include "api/resources.h"
#include "auth/user.h"
#include "common/base64.h"
#include "common/log.h"

namespace skiff::controller {
namespace json = boost::json;
// What the approver and signer need of a request, read once.
struct CsrView {
  std::string name, signer, requester, pem, created;
  std::vector<std::string> requesterGroups;
  std::set<std::string> usages;
  std::optional<int64_t> expirationSeconds;
  bool approved = false, denied = false, failed = false, issued = false;
};

namespace {


CsrView csrViewOf(const json::value& csr) {
  CsrView v;
  v.name = api::stringAt(csr, "metadata.name");
  v.signer = api::stringAt(csr, "spec.signerName");
  v.requester = api::stringAt(csr, "spec.username");
  v.created = api::stringAt(csr, "metadata.creationTimestamp");
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
std::string signerRefusal(const CsrView& v, const pki::RequestedNames& n, const std::string& trustDomain) {
  if (v.signer == kMeshWorkloadSigner) {
    std::string prefix = "spiffe://" + trustDomain + "/";
    if (n.uris.size() != 1 || !n.uris[0].starts_with(prefix)) return "a mesh identity names exactly one URI, " + prefix + "...";
    if (!n.dnsNames.empty() || !n.ipAddresses.empty()) return "a mesh identity names no hosts";
    if (!onlyUsages(v.usages, {"client auth", "server auth", "digital signature", "key encipherment"}, "client auth") ||
        !v.usages.count("server auth"))
      return "usages must be client auth and server auth (with digital signature, key encipherment)";
    return "";
  }
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

enum class MeshVerdict { kApprove, kWait, kDeny, kHuman };

// May the requester hold this mesh identity? A node may hold its own node identity and those of
// the service accounts its pods run as — what its proxy presents for them.
MeshVerdict meshVerdict(const CsrView& v, const std::string& uri, const CsrOptions& options, client::Informer& pods) {
  const std::string& trustDomain = options.trustDomain;
  bool isNode = v.requester.starts_with(auth::kNodeUserPrefix) &&
                std::find(v.requesterGroups.begin(), v.requesterGroups.end(), auth::kNodesGroup) != v.requesterGroups.end();
  if (!isNode) return MeshVerdict::kHuman;
  std::string node = v.requester.substr(std::string_view(auth::kNodeUserPrefix).size());
  std::string path = uri.substr(("spiffe://" + trustDomain + "/").size());
  if (path == "node/" + node) return MeshVerdict::kApprove;
  if (path.starts_with("ns/")) {
    size_t sa = path.find("/sa/");
    if (sa != std::string::npos) {
      std::string ns = path.substr(3, sa - 3), account = path.substr(sa + 4);
      for (const auto& pod : pods.listByNode(node)) {
        std::string podAccount = api::stringAt(*pod, "spec.serviceAccountName");
        if (api::stringAt(*pod, "metadata.namespace") == ns && (podAccount.empty() ? "default" : podAccount) == account)
          return MeshVerdict::kApprove;
      }
    }
  }
  // The pod may not have reached this controller's informer yet.
  int64_t created = api::parseRfc3339(v.created);
  return created > 0 && std::time(nullptr) - created >= options.meshWorkloadGrace.count() ? MeshVerdict::kDeny : MeshVerdict::kWait;
}

}  // namespace

CsrController::CsrController(client::Client& client, client::Informer& csrs, client::Informer& nodes, client::Informer& pods,
                             pki::CertificateAuthority ca, CsrOptions options)
    : client_(client), csrs_(csrs), nodes_(nodes), pods_(pods), ca_(std::move(ca)), options_(std::move(options)),
      loop_("csr-controller", [this](const std::string& key) { return reconcile(key); }) {
  csrs_.addHandler([this](const std::string&, const client::ObjectPtr& csr, const client::ObjectPtr&) {
    loop_.queue().add(api::stringAt(*csr, "metadata.name"));
  });
}

// Kubernetes' csrcleaner: finished requests (issued, denied, failed) go an hour after they were
// made, pending ones after a day, so renewals do not pile up in the store.
std::optional<Result<Requeue>> CsrController::cleanUp(const CsrView& v) {
  int64_t created = api::parseRfc3339(v.created);
  if (created <= 0) return std::nullopt;
  bool finished = v.issued || v.denied || v.failed;
  int64_t keep = finished ? options_.keepFinished.count() : options_.keepPending.count();
  int64_t age = std::time(nullptr) - created;
  if (age < keep) {
    if (finished) return Result<Requeue>(Requeue::in(std::chrono::seconds(keep - age)));
    return std::nullopt;
  }
  auto r = client_.remove(*api::findByKind("certificates.k8s.io/v1", "CertificateSigningRequest"), "", v.name);
  if (!r && r.error().code != 404) return Result<Requeue>(r.error());
  log::info("csr-controller", "removed " + v.name + ": " + (finished ? "finished" : "pending") + " for longer than " + std::to_string(keep) + " s");
  return Result<Requeue>(Requeue::done());
}

Result<Requeue> CsrController::reconcile(const std::string& name) {
  client::ObjectPtr obj = csrs_.get("", name);
  if (!obj) return Requeue::done();
  CsrView v = csrViewOf(*obj);
  if (auto cleaned = cleanUp(v)) return *cleaned;
  if (v.issued || v.denied || v.failed) return Requeue::done();
  if (v.signer != kKubeletClientSigner && v.signer != kKubeletServingSigner && v.signer != kApiServerClientSigner &&
      v.signer != kMeshWorkloadSigner)
    return Requeue::done();
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
  std::string refusal = names ? signerRefusal(v, *names, options_.trustDomain) : names.error().message;
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
    } else if (v.signer == kMeshWorkloadSigner) {
      switch (meshVerdict(v, names->uris[0], options_, pods_)) {
        case MeshVerdict::kApprove:
          approve = true;
          break;
        case MeshVerdict::kWait:
          return Requeue::in(std::chrono::seconds(1));
        case MeshVerdict::kDeny: {
          std::string why = v.requester + " runs no pod as " + names->uris[0];
          log::warn("csr-controller", "denied " + name + ": " + why);
          if (Status s = addCondition("approval", condition("Denied", "NoSuchWorkload", why)); !s) return s.error();
          return Requeue::done();
        }
        case MeshVerdict::kHuman:
          break;
      }
    }
    if (!approve) return Requeue::done();  // a human decides (kubectl certificate approve|deny)
    if (Status s = addCondition("approval", condition("Approved", "AutoApproved", "approved by skiff's csr-controller for " + v.signer)); !s)
      return s.error();
    return Requeue::done();  // the update comes back through the informer and is signed then
  }
  std::chrono::seconds lifetime = options_.maxLifetime;
  if (v.expirationSeconds) lifetime = std::min(lifetime, std::chrono::seconds(*v.expirationSeconds));
  bool serving = v.signer == kKubeletServingSigner || v.signer == kMeshWorkloadSigner;
  bool client = v.signer != kKubeletServingSigner;
  auto cert = ca_.signRequest(v.pem, serving, client, lifetime);
  if (!cert) {
    if (Status s = addCondition("status", condition("Failed", "SignerValidationFailure", cert.error().message)); !s) return s.error();
    return Requeue::done();
  }
  json::value next = *obj;
  api::ensurePath(next, "status.certificate") = base64Encode(*cert);
  auto r = client_.update(type, "", name, std::move(next), "status");
  if (!r) return r.error();
  log::info("csr-controller", "signed " + name + " (" + (names->uris.empty() ? names->commonName : names->uris[0]) + ") for " + v.signer);
  return Requeue::done();
}

}  // namespace skiff::controller
