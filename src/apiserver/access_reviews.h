// The review kinds: asked with a POST, answered from this server's authenticator and
// authorizer, never stored (authorization.k8s.io/v1 and authentication.k8s.io/v1):
// - SelfSubjectAccessReview (`kubectl auth can-i`), SubjectAccessReview (any user, for those
//   allowed to ask), LocalSubjectAccessReview (the same, in one namespace);
// - SelfSubjectRulesReview (`kubectl auth can-i --list`): the RBAC rules the requester holds in a
//   namespace; `incomplete` for users some rules of which are not RBAC's (nodes, bootstrappers);
// - SelfSubjectReview (`kubectl auth whoami`) and TokenReview (who a bearer token is).
#pragma once
#include <functional>
#include <string>

#include <boost/json/value.hpp>

#include "api/resources.h"
#include "auth/authorizer.h"
#include "auth/rbac_authorizer.h"
#include "common/result.h"

namespace skiff::apiserver {

struct ReviewContext {
  const auth::Authorizer& authorizer;
  const auth::RbacAuthorizer* rbac;  // null: no RBAC rules to list
  // The user a bearer token stands for (401-style error when it does not hold).
  std::function<Result<auth::UserInfo>(const std::string& token)> userOfToken;
};

// `review` as posted; `pathNamespace` the namespace of a LocalSubjectAccessReview's path.
// Returns the review with its status filled in.
Result<boost::json::value> answerReview(const api::ResourceType& type, const std::string& pathNamespace, boost::json::value review,
                                        const auth::UserInfo& requester, const ReviewContext& context);

}  // namespace skiff::apiserver
