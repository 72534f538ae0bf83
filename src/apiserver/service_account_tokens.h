// Service-account tokens, as a projected serviceAccountToken volume or `kubectl create token`
// carries them: JWTs (HS256, key in DATA/sa.key) — subject system:serviceaccount:<ns>:<name>, the
// service account's uid, an expiry, and the pod's name and uid when bound to a pod. The API
// server accepts them while they have not expired and what they are bound to (the pod, else the
// service account itself) still exists with that uid; RBAC decides what they may do.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace skiff::apiserver {

// Tokens are issued by this issuer; the API accepts those whose audience is the API's own
// ("skiff", what a pod's default token carries) or the issuer (Kubernetes' default API audience).
inline constexpr const char* kIssuer = "https://kubernetes.default.svc.cluster.local";
inline constexpr const char* kApiAudience = "skiff";

struct ServiceAccountIdentity {
  std::string ns, name, pod, podUid;
  std::string uid = {};  // the service account's
  std::string user() const { return "system:serviceaccount:" + ns + ":" + name; }
};

class ServiceAccountTokens {
 public:
  // Loads DIR/sa.key, creating it (32 random bytes, mode 0600) on first start.
  static Result<std::unique_ptr<ServiceAccountTokens>> open(const std::string& dataDir);
  explicit ServiceAccountTokens(std::string key) : key_(std::move(key)) {}
  std::string issue(const ServiceAccountIdentity& who, int64_t seconds, const std::string& audience = "skiff") const;
  // The identity in a token this key signed that is valid now (exp, nbf) and meant for this API
  // (aud); nothing otherwise.
  std::optional<ServiceAccountIdentity> verify(const std::string& token) const;

 private:
  std::string sign(const std::string& signingInput) const;
  std::string key_;
};

}  // namespace skiff::apiserver
