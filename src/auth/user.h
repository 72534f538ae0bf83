// Who sent a request, as Kubernetes' authenticators name them: a user name and groups.
//
// Names and groups follow Kubernetes': "system:admin" in "system:masters" (the admin token and
// admin certificates), "system:node:<node>" in "system:nodes" (agents, by client certificate),
// "system:bootstrap:<token id>" in "system:bootstrappers" (a node joining with its token),
// "system:serviceaccount:<ns>:<name>" in "system:serviceaccounts" (pods' tokens), and
// "system:anonymous" in "system:unauthenticated" (no credentials at all).
#pragma once
#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace skiff::auth {

inline constexpr const char* kMasters = "system:masters";
inline constexpr const char* kNodesGroup = "system:nodes";
inline constexpr const char* kNodeUserPrefix = "system:node:";
inline constexpr const char* kBootstrappers = "system:bootstrappers";
inline constexpr const char* kAuthenticated = "system:authenticated";
inline constexpr const char* kUnauthenticated = "system:unauthenticated";
inline constexpr const char* kAnonymous = "system:anonymous";

struct UserInfo {
  std::string name;
  std::vector<std::string> groups;
  // Service-account tokens: the pod they were issued to ("" otherwise).
  std::string podName, podUid;

  bool inGroup(std::string_view g) const { return std::find(groups.begin(), groups.end(), g) != groups.end(); }
  // The node a node's credentials speak for; "" when this is not a node.
  std::string nodeName() const {
    std::string_view n = name;
    if (!inGroup(kNodesGroup) || !n.starts_with(kNodeUserPrefix)) return "";
    return std::string(n.substr(std::string_view(kNodeUserPrefix).size()));
  }
};

}  // namespace skiff::auth
