// User impersonation (`kubectl --as`, `--as-group`): the Impersonate-User, Impersonate-Group,
// Impersonate-Uid and Impersonate-Extra-<key> headers, as kube-apiserver reads them. The
// requester must be allowed the `impersonate` verb on each: users (or serviceaccounts, for a
// system:serviceaccount:<ns>:<name> user), groups, uids and userextras/<key> in
// authentication.k8s.io. The request then runs as the impersonated user: the given groups plus
// system:authenticated (and a service account's groups), nothing of the requester's.
#pragma once
#include "auth/authorizer.h"
#include "common/result.h"
#include "http/http.h"

namespace skiff::apiserver {

// The user the request runs as: `requester` when it impersonates no one; 403 when it may not
// impersonate whom it names, 400 when the headers are inconsistent.
Result<auth::UserInfo> impersonatedUser(const auth::Authorizer& authorizer, const auth::UserInfo& requester, const http::Request& request);

}  // namespace skiff::apiserver
