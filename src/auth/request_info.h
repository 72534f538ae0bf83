// What a request asks to do, in the terms authorization speaks (Kubernetes' RequestInfo): a verb
// on a resource (group, resource, subresource, namespace, name) or on a non-resource path.
#pragma once
#include <string>

namespace skiff::auth {

struct RequestInfo {
  bool isResource = false;
  // get, list, watch, create, update, patch, delete, deletecollection; for non-resource paths
  // the lower-cased method (get, post, ...).
  std::string verb;
  std::string apiGroup, apiVersion, ns, resource, subresource, name;
  std::string path;
  // The list's field selector, as sent (the node authorizer reads it).
  std::string fieldSelector;
};

// `path` is the percent-decoded path; `watchParam` the value of ?watch= ("" when absent).
RequestInfo requestInfoOf(const std::string& method, const std::string& path, const std::string& watchParam,
                          const std::string& fieldSelector);

// "pods \"web\" is forbidden: User \"x\" cannot get resource \"pods\" in API group \"\" in the
// namespace \"shop\"" — Kubernetes' wording, which kubectl shows as it is.
std::string forbiddenMessage(const std::string& user, const RequestInfo& r);

}  // namespace skiff::auth
