// Authentication: who sent a request, from its head. Tried in Kubernetes' order — a client
// certificate signed by the cluster CA (CN = user, O = groups), then a bearer token: the admin
// token (system:admin in system:masters), a bootstrap token (see bootstrap_token.h), a pod's
// service-account token. No credentials at all is the anonymous user; credentials that do not
// hold are refused (401), never downgraded to anonymous.
#pragma once
#include <functional>
#include <optional>
#include <string>

#include <boost/json/fwd.hpp>

#include "auth/user.h"
#include "common/result.h"
#include "http/http.h"

namespace skiff::auth {

struct AuthenticatorOptions {
  std::string adminToken;
  // A service-account token's user (with its pod) while it and its pod are valid; nothing otherwise.
  std::function<std::optional<UserInfo>(const std::string& token)> serviceAccountToken;
  // The kube-system Secret of this name, if it exists.
  std::function<std::optional<boost::json::value>(const std::string& name)> kubeSystemSecret;
};

class Authenticator {
 public:
  explicit Authenticator(AuthenticatorOptions options) : options_(std::move(options)) {}
  // 401 Unauthorized with what was wrong when the credentials do not hold.
  Result<UserInfo> authenticate(const http::Request& request) const;

 private:
  std::optional<UserInfo> bootstrapUser(const std::string& token) const;
  AuthenticatorOptions options_;
};

// The bearer token of an Authorization header ("" when none).
std::string bearerToken(const http::Request& request);
// Compares secrets in constant time (digests, so neither length nor content shows in timing).
bool sameSecret(const std::string& given, const std::string& expected);

}  // namespace skiff::auth
