// skiff kubeconfig create USER: a kubeconfig for a person, holding a client certificate for USER
// (and --group G as its organisations) issued through the CSR API by the
// kubernetes.io/kube-apiserver-client signer, as `kubeadm kubeconfig user` or the CSR walkthrough
// in Kubernetes' documentation make one. The caller approves the request, so only those allowed
// to approve for that signer can make one. What the user may then do is what RBAC binds to them.
#include <chrono>
#include <cstdio>
#include <thread>

#include <boost/json.hpp>

#include "api/object.h"
#include "api/traffic_policy.h"
#include "cli/commands.h"
#include "cli/context.h"
#include "cli/kubeconfig.h"
#include "common/base64.h"
#include "pki/pki.h"

namespace skiff::cli {
namespace json = boost::json;

namespace {
constexpr const char* kCsrPath = "/apis/certificates.k8s.io/v1/certificatesigningrequests";

Result<std::string> issue(Context& c, const std::string& user, const std::vector<std::string>& groups, int64_t seconds, std::string& keyPem) {
  pki::CertificateRequest want{user, groups.empty() ? "" : groups[0], {}, false, true, std::chrono::seconds(seconds)};
  if (groups.size() > 1) want.moreOrganizations.assign(groups.begin() + 1, groups.end());
  auto kr = pki::makeCertificateRequest(want);
  if (!kr) return kr.error();
  keyPem = kr->keyPem;
  json::object csr{{"apiVersion", "certificates.k8s.io/v1"},
                   {"kind", "CertificateSigningRequest"},
                   {"metadata", json::object{{"generateName", "user-" + user + "-"}}},
                   {"spec", json::object{{"request", base64Encode(kr->requestPem)},
                                         {"signerName", "kubernetes.io/kube-apiserver-client"},
                                         {"expirationSeconds", seconds},
                                         {"usages", json::array{"digital signature", "key encipherment", "client auth"}}}}};
  auto created = c.call("POST", kCsrPath, json::serialize(csr));
  if (!created) return Error{created.error().code, created.error().reason, "cannot request the certificate: " + created.error().message, {}};
  std::string name = api::stringAt(*created, "metadata.name");
  json::value approval = *created;
  approval.as_object()["status"] = json::object{
      {"conditions", json::array{json::object{{"type", "Approved"}, {"status", "True"}, {"reason", "SkiffKubeconfigCreate"},
                                              {"message", "approved by skiff kubeconfig create"}}}}};
  auto approved = c.call("PUT", std::string(kCsrPath) + "/" + name + "/approval", json::serialize(approval));
  if (!approved) return Error{approved.error().code, approved.error().reason, "cannot approve " + name + ": " + approved.error().message, {}};
  for (int i = 0; i < 300; ++i) {  // the signer answers within a second; 30 s bound
    auto got = c.call("GET", std::string(kCsrPath) + "/" + name);
    if (!got) return got.error();
    std::string cert = api::stringAt(*got, "status.certificate");
    if (!cert.empty()) {
      auto pem = base64Decode(cert);
      if (!pem) return Error::internal("the signer's certificate is not base64");
      return *pem;
    }
    if (const json::value* cs = api::valueAt(*got, "status.conditions"); cs && cs->is_array())
      for (const auto& cond : cs->get_array())
        if (api::stringAt(cond, "type") == "Failed" || api::stringAt(cond, "type") == "Denied")
          return Error::forbidden("the request " + name + " was " + api::stringAt(cond, "type") + ": " + api::stringAt(cond, "message"));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return Error::unavailable("no certificate for " + name + " after 30 s: is a signer running (skiff up / skiff server)?");
}
}  // namespace

int runKubeconfig(const Args& args) {
  auto specs = commonFlags();
  specs.push_back({"group", "", true, true});
  specs.push_back({"expires", "", true});
  auto flags = Flags::parse(args, specs);
  if (!flags) return fail(flags.error().message);
  const auto& pos = flags->positional();
  if (pos.size() != 2 || pos[0] != "create")
    return fail("usage: skiff kubeconfig create USER [--group GROUP]... [--expires DURATION, e.g. 720h; default 8760h]");
  const std::string& user = pos[1];
  if (user.empty() || user.starts_with("system:"))
    return fail("the user name \"" + user + "\" is not for people: names starting with system: are Kubernetes' own identities");
  int64_t seconds = 365 * 24 * 3600;
  if (flags->has("expires")) {
    auto ms = api::parseDurationMillis(flags->get("expires"));
    if (!ms || *ms < 600 * 1000) return fail("--expires takes a duration of at least 10m, like 720h or 8760h");
    seconds = *ms / 1000;
  }
  auto ctx = Context::connect(*flags);
  if (!ctx) return fail(ctx.error().message);
  std::string keyPem;
  auto cert = issue(**ctx, user, flags->all("group"), seconds, keyPem);
  if (!cert) return fail(cert.error().message);
  Kubeconfig out{(*ctx)->server(), "", (*ctx)->caPem(), (*ctx)->namespace_(), *cert, keyPem, user};
  std::string text = renderKubeconfig(out);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

}  // namespace skiff::cli
