#include "apiserver/access_reviews.h"

#include <boost/json.hpp>

#include "api/object.h"

namespace skiff::apiserver {
namespace json = boost::json;

namespace {
// spec.resourceAttributes or spec.nonResourceAttributes as the request authorization decides.
Result<auth::RequestInfo> attributesOf(const json::value& review) {
  auth::RequestInfo r;
  if (const json::value* res = api::valueAt(review, "spec.resourceAttributes"); res && res->is_object()) {
    r.isResource = true;
    r.verb = api::stringAt(*res, "verb");
    r.apiGroup = api::stringAt(*res, "group");
    r.apiVersion = api::stringAt(*res, "version");
    r.resource = api::stringAt(*res, "resource");
    r.subresource = api::stringAt(*res, "subresource");
    r.ns = api::stringAt(*res, "namespace");
    r.name = api::stringAt(*res, "name");
    return r;
  }
  if (const json::value* non = api::valueAt(review, "spec.nonResourceAttributes"); non && non->is_object()) {
    r.verb = api::stringAt(*non, "verb");
    r.path = api::stringAt(*non, "path");
    return r;
  }
  Error e = Error::invalid("spec.resourceAttributes: Required value: exactly one of nonResourceAttributes or resourceAttributes must be specified");
  e.causes.push_back({"FieldValueRequired", "exactly one of nonResourceAttributes or resourceAttributes must be specified", "spec.resourceAttributes"});
  return e;
}

json::value accessStatus(const auth::Decision& d) {
  json::object status{{"allowed", d.allowed}};
  return status;
}

json::value rulesStatus(const std::vector<auth::PolicyRule>& rules, bool incomplete, const std::string& why) {
  json::array resourceRules, nonResourceRules;
  for (const auto& r : rules) {
    if (!r.nonResourceURLs.empty()) {
      nonResourceRules.push_back(json::object{{"verbs", api::stringArray(r.verbs)}, {"nonResourceURLs", api::stringArray(r.nonResourceURLs)}});
      continue;
    }
    json::object o{{"verbs", api::stringArray(r.verbs)}, {"apiGroups", api::stringArray(r.apiGroups)}, {"resources", api::stringArray(r.resources)}};
    if (!r.resourceNames.empty()) o["resourceNames"] = api::stringArray(r.resourceNames);
    resourceRules.push_back(std::move(o));
  }
  json::object status{{"resourceRules", std::move(resourceRules)}, {"nonResourceRules", std::move(nonResourceRules)}, {"incomplete", incomplete}};
  if (!why.empty()) status["evaluationError"] = why;
  return status;
}

json::value userInfoJson(const auth::UserInfo& u) {
  json::object o{{"username", u.name}, {"groups", api::stringArray(u.groups)}};
  if (!u.podUid.empty()) o["extra"] = json::object{{"authentication.kubernetes.io/pod-name", json::array{json::string(u.podName)}},
                                                   {"authentication.kubernetes.io/pod-uid", json::array{json::string(u.podUid)}}};
  return o;
}
}  // namespace

Result<json::value> answerReview(const api::ResourceType& type, const std::string& pathNamespace, json::value review,
                                 const auth::UserInfo& requester, const ReviewContext& context) {
  if (!review.is_object()) return Error::badRequest("a " + type.kind + " must be a JSON object");
  json::object& o = review.as_object();
  o["apiVersion"] = type.apiVersion();
  o["kind"] = type.kind;
  if (!o.contains("metadata") || !o["metadata"].is_object()) o["metadata"] = json::object();
  o["metadata"].as_object()["creationTimestamp"] = nullptr;
  const std::string& k = type.kind;
  if (k == "SelfSubjectAccessReview" || k == "SubjectAccessReview" || k == "LocalSubjectAccessReview") {
    auto request = attributesOf(review);
    if (!request) return request.error();
    auth::UserInfo subject = requester;
    if (k != "SelfSubjectAccessReview") {
      subject = auth::UserInfo{api::stringAt(review, "spec.user"), api::stringsAt(review, "spec.groups"), "", ""};
      if (subject.name.empty() && subject.groups.empty()) {
        Error e = Error::invalid("spec.user: Invalid value: \"\": at least one of user or group must be specified");
        e.causes.push_back({"FieldValueInvalid", "at least one of user or group must be specified", "spec.user"});
        return e;
      }
    }
    if (k == "LocalSubjectAccessReview" && (!request->isResource || request->ns != pathNamespace))
      return Error::badRequest("spec.resourceAttributes.namespace must match namespace: " + pathNamespace);
    o["status"] = accessStatus(context.authorizer.authorize(subject, *request));
    return review;
  }
  if (k == "SelfSubjectRulesReview") {
    std::string ns = api::stringAt(review, "spec.namespace");
    if (ns.empty()) return Error::badRequest("no namespace on request: SelfSubjectRulesReview needs spec.namespace");
    std::vector<auth::PolicyRule> rules = context.rbac ? context.rbac->rulesFor(requester, ns) : std::vector<auth::PolicyRule>{};
    bool masters = requester.inGroup(auth::kMasters);  // their rules come from the cluster-admin binding
    bool special = !masters && (!requester.nodeName().empty() || requester.inGroup(auth::kBootstrappers));
    o["status"] = rulesStatus(rules, special, special ? "the Node and bootstrap authorizers do not list their rules; only RBAC's are shown" : "");
    return review;
  }
  if (k == "SelfSubjectReview") {
    o["status"] = json::object{{"userInfo", userInfoJson(requester)}};
    return review;
  }
  if (k == "TokenReview") {
    std::string token = api::stringAt(review, "spec.token");
    auto user = token.empty() ? Result<auth::UserInfo>(Error::badRequest("spec.token is empty")) : context.userOfToken(token);
    json::object status{{"authenticated", bool(user)}};
    if (user) status["user"] = userInfoJson(*user);
    else status["error"] = user.error().message;
    if (const json::value* aud = api::valueAt(review, "spec.audiences"); aud && aud->is_array()) status["audiences"] = *aud;
    o["status"] = std::move(status);
    return review;
  }
  return Error{405, "MethodNotAllowed", type.kind + " is not served", {}};
}

}  // namespace skiff::apiserver
