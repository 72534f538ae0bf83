#include "server/node_join.h"

#include <boost/json.hpp>

#include <filesystem>
#include <thread>

#include "api/object.h"
#include "api/resources.h"
#include "auth/bootstrap_token.h"
#include "auth/user.h"
#include "cli/kubeconfig.h"
#include "common/base64.h"
#include "common/files.h"
#include "common/log.h"
#include "controller/csr_controller.h"
#include "http/http.h"
#include "pki/pki.h"

namespace skiff::server {
namespace json = boost::json;
namespace {

// The cluster CA, from a server's cluster-info signed by this token. Retries while the signature
// is not there yet (a server that just started); fails on one that does not match.
Result<std::string> discoverCa(const std::vector<std::string>& servers, const auth::TokenParts& token, const std::function<bool()>& stopRequested) {
  std::string target = std::string("/api/v1/namespaces/") + auth::kClusterInfoNamespace + "/configmaps/" + auth::kClusterInfoName;
  auto lastLog = std::chrono::steady_clock::time_point();
  for (;;) {
    std::string lastProblem;
    for (const auto& server : servers) {
      auto hp = http::parseHostPort(server, 6443);
      if (!hp) return Error::badRequest("--server " + server + " is not https://HOST:PORT: " + hp.error().message);
      http::Client c(hp->first, hp->second, "", http::Client::kUnverified, "the API server at " + server);
      c.setTimeout(std::chrono::seconds(10));
      auto r = c.request("GET", target);
      if (!r) {
        lastProblem = r.error().message;
        continue;
      }
      if (r->status != 200) {
        lastProblem = server + " answered " + std::to_string(r->status) + " for cluster-info";
        continue;
      }
      boost::system::error_code ec;
      json::value cm = json::parse(r->body, ec);
      std::string kubeconfig = ec ? "" : api::stringAt(cm, "data.kubeconfig");
      std::string jws = ec ? "" : api::stringAt(cm, "data." + std::string(auth::kJwsKeyPrefix) + token.id);
      if (kubeconfig.empty()) {
        lastProblem = server + " has no cluster-info kubeconfig yet";
        continue;
      }
      if (jws.empty()) {
        lastProblem = server + " has not signed cluster-info with token " + token.id + " (yet)";
        continue;
      }
      if (!auth::verifyDetachedJws(jws, kubeconfig, token))
        return Error{401, "Unauthorized", "cluster-info at " + server + " is not signed by this token's secret: the token is wrong, or this is not the cluster it belongs to", {}};
      auto kc = cli::parseKubeconfig(kubeconfig, "cluster-info");
      if (!kc) return kc.error();
      if (kc->caPem.empty()) return Error::invalid("cluster-info at " + server + " names no CA");
      return kc->caPem;
    }
    if (stopRequested()) return Error::unavailable("stopped before a server's cluster-info could be verified: " + lastProblem);
    if (std::chrono::steady_clock::now() - lastLog > std::chrono::seconds(5)) {
      log::warn("agent", "waiting to verify the cluster's CA: " + lastProblem);
      lastLog = std::chrono::steady_clock::now();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

bool stillGood(const cli::Kubeconfig& kc) {
  if (kc.certPem.empty() || kc.keyPem.empty() || kc.caPem.empty()) return false;
  auto notAfter = pki::certificateNotAfter(kc.certPem);
  // An unexpired certificate is kept (the rotator renews it at once when it is due): a node must
  // come back after a restart even when its join token has expired since.
  return notAfter && *notAfter > std::chrono::system_clock::now() + std::chrono::minutes(1);
}
}  // namespace

Result<std::string> requestCertificate(client::Client& client, const std::string& namePrefix, const std::string& requestPem,
                                       const std::string& signer, const std::vector<std::string>& usages, std::chrono::seconds wait,
                                       const std::function<bool()>& stopRequested, std::optional<std::chrono::seconds> lifetime) {
  const api::ResourceType& type = *api::findByKind("certificates.k8s.io/v1", "CertificateSigningRequest");
  json::array u;
  for (const auto& x : usages) u.emplace_back(x);
  json::value csr = json::object{{"apiVersion", "certificates.k8s.io/v1"},
                                 {"kind", "CertificateSigningRequest"},
                                 {"metadata", json::object{{"generateName", namePrefix}}},
                                 {"spec", json::object{{"request", base64Encode(requestPem)}, {"signerName", signer}, {"usages", std::move(u)}}}};
  // Kubernetes refuses expirationSeconds under 10 minutes; a shorter wish asks for that.
  if (lifetime) api::ensurePath(csr, "spec.expirationSeconds") = std::max<int64_t>(lifetime->count(), 600);
  auto created = client.create(type, "", std::move(csr));
  if (!created) return Error{created.error().code, created.error().reason, "cannot send the certificate signing request: " + created.error().message, {}};
  std::string name = api::stringAt(*created, "metadata.name");
  auto until = std::chrono::steady_clock::now() + wait;
  auto poll = std::chrono::milliseconds(10);
  while (std::chrono::steady_clock::now() < until) {
    auto now = client.get(type, "", name);
    if (now) {
      if (auto cert = base64Decode(api::stringAt(*now, "status.certificate")); cert && !cert->empty()) return *cert;
      if (const json::value* cs = api::valueAt(*now, "status.conditions"); cs && cs->is_array())
        for (const auto& c : cs->as_array()) {
          std::string t = api::stringAt(c, "type");
          if ((t == "Denied" || t == "Failed") && api::stringAt(c, "status") != "False")
            return Error{403, "Forbidden", "certificate signing request " + name + " was " + (t == "Denied" ? "denied" : "refused") + ": " +
                                               api::stringAt(c, "message"), {}};
        }
    }
    if (stopRequested()) return Error::unavailable("stopped while waiting for certificate signing request " + name);
    // The controller usually signs within milliseconds: look again soon, then less often.
    std::this_thread::sleep_for(poll);
    poll = std::min(poll * 2, std::chrono::milliseconds(200));
  }
  return Error::unavailable("certificate signing request " + name + " (" + signer + ") was not signed within " + std::to_string(wait.count()) +
                            " s: is a server's controller running, or does it wait for `kubectl certificate approve " + name + "`?");
}

Result<client::RestConfig> joinCluster(const JoinOptions& options, const std::function<bool()>& stopRequested) {
  std::string path = options.dataDir + "/agent.kubeconfig";
  if (std::filesystem::exists(path)) {
    auto kc = cli::loadKubeconfig(path);
    if (kc && stillGood(*kc)) return client::RestConfig{options.servers, kc->caPem, "", kc->certPem, kc->keyPem};
    log::info("agent", "the node certificate in " + path + " is missing, unreadable or expired: joining again with the token");
  }
  auto token = auth::parseBootstrapToken(options.token);
  if (!token)
    return Error::badRequest("--token is not a join token (the form abcdef.0123456789abcdef, from the server's DATA/node-token)");
  auto ca = discoverCa(options.servers, *token, stopRequested);
  if (!ca) return ca.error();
  client::RestConfig bootstrap{options.servers, *ca, options.token, "", ""};
  auto bootClient = client::RestClient::create(bootstrap);
  if (!bootClient) return bootClient.error();
  std::string user = std::string(auth::kNodeUserPrefix) + options.nodeName;
  auto kr = pki::makeCertificateRequest({user, auth::kNodesGroup, {}, false, true});
  if (!kr) return kr.error();
  auto cert = requestCertificate(**bootClient, "node-csr-", kr->requestPem, controller::kKubeletClientSigner,
                                 {"digital signature", "key encipherment", "client auth"}, options.certificateWait, stopRequested);
  if (!cert) return cert.error();
  cli::Kubeconfig kc{options.servers.front(), "", *ca, "default", *cert, kr->keyPem};
  if (Status s = writeFileAtomic(path, cli::renderKubeconfig(kc), 0600); !s) return s.error();
  log::info("agent", "joined as " + user + "; its credentials are in " + path);
  return client::RestConfig{options.servers, *ca, "", *cert, kr->keyPem};
}

Result<std::string> renewClientCertificate(client::RestClient& client, const JoinOptions& options, const std::string& caPem,
                                           const std::function<bool()>& stopRequested) {
  std::string user = std::string(auth::kNodeUserPrefix) + options.nodeName;
  auto kr = pki::makeCertificateRequest({user, auth::kNodesGroup, {}, false, true});
  if (!kr) return kr.error();
  auto cert = requestCertificate(client, "node-csr-", kr->requestPem, controller::kKubeletClientSigner,
                                 {"digital signature", "key encipherment", "client auth"}, options.certificateWait, stopRequested);
  if (!cert) return cert.error();
  cli::Kubeconfig kc{options.servers.front(), "", caPem, "default", *cert, kr->keyPem};
  if (Status s = writeFileAtomic(options.dataDir + "/agent.kubeconfig", cli::renderKubeconfig(kc), 0600); !s) return s.error();
  client.setClientCertificate(*cert, kr->keyPem);
  return *cert;
}

Result<std::string> requestServiceAccountToken(client::RestClient& client, const std::string& ns, const std::string& serviceAccount,
                                               const std::string& pod, const std::string& podUid, int64_t seconds,
                                               const std::string& audience) {
  json::object spec{{"expirationSeconds", seconds},
                    {"boundObjectRef", json::object{{"kind", "Pod"}, {"apiVersion", "v1"}, {"name", pod}, {"uid", podUid}}}};
  if (!audience.empty()) spec["audiences"] = json::array{json::string(audience)};
  json::value body = json::object{{"apiVersion", "authentication.k8s.io/v1"}, {"kind", "TokenRequest"}, {"spec", std::move(spec)}};
  std::string path = "/api/v1/namespaces/" + ns + "/serviceaccounts/" + serviceAccount + "/token";
  auto r = client.request("POST", path, json::serialize(body));
  if (!r) return r.error();
  if (r->status != 201 && r->status != 200) return client::errorFromResponse(*r, client.currentServer());
  boost::system::error_code ec;
  json::value answer = json::parse(r->body, ec);
  std::string token = ec ? "" : api::stringAt(answer, "status.token");
  if (token.empty()) return Error::internal("the TokenRequest answer for " + ns + "/" + serviceAccount + " holds no token");
  return token;
}

}  // namespace skiff::server
