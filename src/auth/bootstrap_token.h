// Bootstrap tokens, as kubeadm and the kubelet's TLS bootstrap use them: "abcdef.0123456789abcdef"
// (a 6-character id and a 16-character secret, [a-z0-9]) stored as a Secret
// kube-system/bootstrap-token-<id> of type bootstrap.kubernetes.io/token.
//
// A token with usage-bootstrap-authentication authenticates as system:bootstrap:<id> in
// system:bootstrappers (plus its auth-extra-groups), which may only ask for a node certificate.
// A token with usage-bootstrap-signing signs the kube-public/cluster-info ConfigMap (a detached
// JWS, HS256 keyed by the secret), so a joining node that knows only the token can tell the
// cluster's real CA from an impostor's before it trusts anything.
#pragma once
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/fwd.hpp>

#include "common/result.h"

namespace skiff::auth {

inline constexpr const char* kBootstrapTokenType = "bootstrap.kubernetes.io/token";
inline constexpr const char* kBootstrapSecretPrefix = "bootstrap-token-";
inline constexpr const char* kClusterInfoNamespace = "kube-public";
inline constexpr const char* kClusterInfoName = "cluster-info";
inline constexpr const char* kJwsKeyPrefix = "jws-kubeconfig-";
// The group skiff's node join token adds (kubeadm's default-node-token group, named for skiff).
inline constexpr const char* kNodeTokenGroup = "system:bootstrappers:skiff:default-node-token";

struct TokenParts {
  std::string id, secret;
};
// Splits "id.secret" when it has the bootstrap token form; nothing otherwise.
std::optional<TokenParts> parseBootstrapToken(const std::string& token);
// A fresh random token.
TokenParts generateBootstrapToken();

struct BootstrapToken {
  std::string id, secret;
  std::optional<std::chrono::system_clock::time_point> expiration;
  bool authentication = false, signing = false;
  std::vector<std::string> extraGroups;
  bool expired(std::chrono::system_clock::time_point now) const { return expiration && *expiration <= now; }
};
// Reads a bootstrap token Secret; an error says what is wrong with it.
Result<BootstrapToken> bootstrapTokenFromSecret(const boost::json::value& secret);
// The Secret for a token (no expiration: the node join token lives as long as the cluster).
boost::json::value bootstrapTokenSecret(const TokenParts& token, const std::vector<std::string>& extraGroups,
                                        const std::string& description);

// The detached JWS kubeadm puts in cluster-info: "<header>..<signature>" over `payload`.
std::string signDetachedJws(const std::string& payload, const TokenParts& token);
bool verifyDetachedJws(const std::string& jws, const std::string& payload, const TokenParts& token);

}  // namespace skiff::auth
