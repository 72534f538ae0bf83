#include "auth/request_info.h"

#include "http/http.h"

#include <cctype>
#include <vector>

namespace skiff::auth {
namespace {
std::vector<std::string> pathSegments(const std::string& path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

}  // namespace

RequestInfo requestInfoOf(const std::string& method, const std::string& path, const std::string& watchParam,
                          const std::string& fieldSelector) {
  RequestInfo r;
  r.path = path;
  r.fieldSelector = fieldSelector;
  std::vector<std::string> p = pathSegments(path);
  size_t base = 0;
  if (p.size() >= 2 && p[0] == "api") {
    r.apiVersion = p[1];
    base = 2;
  } else if (p.size() >= 3 && p[0] == "apis") {
    r.apiGroup = p[1];
    r.apiVersion = p[2];
    base = 3;
  }
  if (base == 0 || p.size() <= base) {
    r.verb = method;
    for (char& c : r.verb) c = char(std::tolower(static_cast<unsigned char>(c)));
    r.apiGroup.clear();
    r.apiVersion.clear();
    return r;
  }
  r.isResource = true;
  std::vector<std::string> rest(p.begin() + long(base), p.end());
  bool legacyWatch = !rest.empty() && rest[0] == "watch";
  if (legacyWatch) rest.erase(rest.begin());
  if (rest.size() >= 2 && rest[0] == "namespaces") {
    if (rest.size() == 2 || (rest.size() == 3 && (rest[2] == "status" || rest[2] == "finalize"))) {
      // The namespace itself.
      r.resource = "namespaces";
      r.name = rest[1];
      if (rest.size() == 3) r.subresource = rest[2];
    } else {
      r.ns = rest[1];
      rest.erase(rest.begin(), rest.begin() + 2);
    }
  }
  if (r.resource.empty() && !rest.empty()) {
    r.resource = rest[0];
    if (rest.size() >= 2) r.name = rest[1];
    if (rest.size() >= 3) r.subresource = rest[2];
  }
  if (method == "GET" || method == "HEAD") {
    if (legacyWatch || http::parseBool(watchParam).value_or(false)) r.verb = "watch";
    else r.verb = r.name.empty() ? "list" : "get";
  } else if (method == "POST") {
    r.verb = "create";
  } else if (method == "PUT") {
    r.verb = "update";
  } else if (method == "PATCH") {
    r.verb = "patch";
  } else if (method == "DELETE") {
    r.verb = r.name.empty() ? "deletecollection" : "delete";
  } else {
    r.verb = method;
  }
  return r;
}

std::string forbiddenMessage(const std::string& user, const RequestInfo& r) {
  if (!r.isResource) return "forbidden: User \"" + user + "\" cannot " + r.verb + " path \"" + r.path + "\"";
  std::string res = r.resource + (r.subresource.empty() ? "" : "/" + r.subresource);
  std::string what = r.resource + (r.name.empty() ? "" : " \"" + r.name + "\"");
  return what + " is forbidden: User \"" + user + "\" cannot " + r.verb + " resource \"" + res + "\" in API group \"" + r.apiGroup + "\"" +
         (r.ns.empty() ? " at the cluster scope" : " in the namespace \"" + r.ns + "\"");
}

}  // namespace skiff::auth
