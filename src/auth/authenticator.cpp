#include "auth/authenticator.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <boost/json.hpp>

#include "auth/bootstrap_token.h"

namespace skiff::auth {

std::string bearerToken(const http::Request& req) {
  std::string auth = req.header("authorization");
  return auth.size() > 7 && (auth.starts_with("Bearer ") || auth.starts_with("bearer ")) ? auth.substr(7) : "";
}

bool sameSecret(const std::string& given, const std::string& expected) {
  unsigned char a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(given.data()), given.size(), a);
  SHA256(reinterpret_cast<const unsigned char*>(expected.data()), expected.size(), b);
  return CRYPTO_memcmp(a, b, sizeof a) == 0;
}

std::optional<UserInfo> Authenticator::bootstrapUser(const std::string& token) const {
  auto parts = parseBootstrapToken(token);
  if (!parts || !options_.kubeSystemSecret) return std::nullopt;
  auto secret = options_.kubeSystemSecret(std::string(kBootstrapSecretPrefix) + parts->id);
  if (!secret) return std::nullopt;
  auto t = bootstrapTokenFromSecret(*secret);
  if (!t || !t->authentication || t->expired(std::chrono::system_clock::now()) || !sameSecret(parts->secret, t->secret)) return std::nullopt;
  UserInfo u{"system:bootstrap:" + t->id, {kBootstrappers}, "", ""};
  u.groups.insert(u.groups.end(), t->extraGroups.begin(), t->extraGroups.end());
  u.groups.push_back(kAuthenticated);
  return u;
}

Result<UserInfo> Authenticator::authenticate(const http::Request& req) const {
  if (!req.clientCommonName.empty()) {
    UserInfo u{req.clientCommonName, req.clientOrganizations, "", ""};
    u.groups.push_back(kAuthenticated);
    return u;
  }
  std::string token = bearerToken(req);
  if (!token.empty()) {
    if (!options_.adminToken.empty() && sameSecret(token, options_.adminToken))
      return UserInfo{"system:admin", {kMasters, kAuthenticated}, "", ""};
    if (auto u = bootstrapUser(token)) return *u;
    if (options_.serviceAccountToken)
      if (auto u = options_.serviceAccountToken(token)) return *u;
    return Error{401, "Unauthorized", "a bearer token that is not valid here", {}};
  }
  if (!req.clientCertificateProblem.empty()) return Error{401, "Unauthorized", req.clientCertificateProblem, {}};
  return UserInfo{kAnonymous, {kUnauthenticated}, "", ""};
}

}  // namespace skiff::auth
