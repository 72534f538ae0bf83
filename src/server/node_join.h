// The agent's half of joining a cluster with a join token, as kubeadm join and the kubelet's TLS
// bootstrap do it:
//
// 1. Discovery: read kube-public/cluster-info from a server without trusting its certificate yet,
//    and trust the CA in it only if the kubeconfig carries a valid signature by this token
//    (jws-kubeconfig-<token id>) — an impostor without the token cannot forge one.
// 2. TLS bootstrap: with the token (user system:bootstrap:<id>), send a CSR for
//    CN=system:node:<name>, O=system:nodes (signer kubernetes.io/kube-apiserver-client-kubelet);
//    the control plane approves and signs it; the key never leaves this machine.
// 3. Keep it: DATA/agent.kubeconfig (0600) holds the certificate, key and CA; later starts use
//    it while it is valid, and bootstrap again with the token otherwise. While the agent runs,
//    a pki::CertificateRenewer renews it through the API with the node's own identity.
//
// The node's serving certificate (node server) and pods' service-account tokens come the same
// way, through the API with the node's own identity: requestCertificate() and TokenRequest.
#pragma once
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "client/client.h"
#include "client/rest_client.h"
#include "common/result.h"

namespace skiff::server {

struct JoinOptions {
  std::vector<std::string> servers;  // https://host:port
  std::string token;                 // id.secret
  std::string dataDir;
  std::string nodeName;
  std::chrono::seconds certificateWait{120};  // for the signer to sign
};

// Credentials for this node (RestConfig with its client certificate and the cluster CA).
Result<client::RestConfig> joinCluster(const JoinOptions& options, const std::function<bool()>& stopRequested);

// A new client certificate for this node, asked with its current one (the control plane
// approves a node renewing itself), written to DATA/agent.kubeconfig and handed to `client` —
// what the agent's pki::CertificateRenewer runs at 70-90% of the certificate's lifetime.
Result<std::string> renewClientCertificate(client::RestClient& client, const JoinOptions& options, const std::string& caPem,
                                           const std::function<bool()>& stopRequested);

// Sends a CSR (`requestPem`) for `signer` and waits until it is issued (PEM certificate); fails
// when it is denied or fails, or after `wait`.
// `lifetime` (spec.expirationSeconds) is the wish; the signer may give less.
Result<std::string> requestCertificate(client::Client& client, const std::string& namePrefix, const std::string& requestPem,
                                       const std::string& signer, const std::vector<std::string>& usages, std::chrono::seconds wait,
                                       const std::function<bool()>& stopRequested, std::optional<std::chrono::seconds> lifetime = {});

// A pod's service-account token through TokenRequest (serviceaccounts/<name>/token), bound to the pod.
Result<std::string> requestServiceAccountToken(client::RestClient& client, const std::string& ns, const std::string& serviceAccount,
                                               const std::string& pod, const std::string& podUid, int64_t seconds,
                                               const std::string& audience);

}  // namespace skiff::server
