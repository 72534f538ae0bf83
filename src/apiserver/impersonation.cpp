#include "apiserver/impersonation.h"

#include <set>

namespace skiff::apiserver {

namespace {
// A header sent several times arrives joined by ", " (http/server.cpp), as HTTP lists are.
std::vector<std::string> listOf(const std::string& joined) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= joined.size() && !joined.empty()) {
    size_t comma = joined.find(", ", i);
    std::string part = joined.substr(i, comma == std::string::npos ? std::string::npos : comma - i);
    if (!part.empty()) out.push_back(part);
    if (comma == std::string::npos) break;
    i = comma + 2;
  }
  return out;
}

auth::RequestInfo impersonate(const std::string& group, const std::string& resource, const std::string& ns, const std::string& name) {
  auth::RequestInfo r;
  r.isResource = true;
  r.verb = "impersonate";
  r.apiGroup = group;
  r.resource = resource;
  r.ns = ns;
  r.name = name;
  return r;
}

constexpr const char* kServiceAccountPrefix = "system:serviceaccount:";
}  // namespace

Result<auth::UserInfo> impersonatedUser(const auth::Authorizer& authorizer, const auth::UserInfo& requester, const http::Request& request) {
  std::string user = request.header("impersonate-user");
  std::vector<std::string> groups = listOf(request.header("impersonate-group"));
  std::string uid = request.header("impersonate-uid");
  std::vector<std::pair<std::string, std::string>> extras;
  for (const auto& [name, value] : request.headers)
    if (name.starts_with("impersonate-extra-")) extras.emplace_back(name.substr(18), value);
  if (user.empty()) {
    if (groups.empty() && uid.empty() && extras.empty()) return requester;
    return Error::badRequest("requested impersonation of groups, a uid or extra fields without impersonating a user: send Impersonate-User too (kubectl --as)");
  }
  std::vector<auth::RequestInfo> asks;
  auth::UserInfo as{user, {}, "", ""};
  if (user.starts_with(kServiceAccountPrefix)) {
    std::string rest = user.substr(std::string_view(kServiceAccountPrefix).size());
    auto colon = rest.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == rest.size())
      return Error::badRequest("Impersonate-User \"" + user + "\" is not a service account name (system:serviceaccount:<namespace>:<name>)");
    std::string ns = rest.substr(0, colon);
    asks.push_back(impersonate("", "serviceaccounts", ns, rest.substr(colon + 1)));
    as.groups = {"system:serviceaccounts", "system:serviceaccounts:" + ns};
  } else {
    asks.push_back(impersonate("", "users", "", user));
  }
  for (const auto& g : groups) asks.push_back(impersonate("", "groups", "", g));
  if (!uid.empty()) asks.push_back(impersonate("authentication.k8s.io", "uids", "", uid));
  for (const auto& [key, value] : extras)
    for (const auto& v : listOf(value)) asks.push_back(impersonate("authentication.k8s.io", "userextras/" + key, "", v));
  for (auto& ask : asks) {
    // "userextras/<key>" is a resource and its subresource, as Kubernetes' RequestInfo splits it.
    if (auto slash = ask.resource.find('/'); slash != std::string::npos) {
      ask.subresource = ask.resource.substr(slash + 1);
      ask.resource = ask.resource.substr(0, slash);
    }
    auth::Decision d = authorizer.authorize(requester, ask);
    if (!d.allowed) return Error::forbidden(d.reason);
  }
  std::set<std::string> seen(as.groups.begin(), as.groups.end());
  for (const auto& g : groups)
    if (seen.insert(g).second) as.groups.push_back(g);
  if (user != auth::kAnonymous && seen.insert(auth::kAuthenticated).second) as.groups.push_back(auth::kAuthenticated);
  if (user == auth::kAnonymous && seen.insert(auth::kUnauthenticated).second) as.groups.push_back(auth::kUnauthenticated);
  return as;
}

}  // namespace skiff::apiserver
