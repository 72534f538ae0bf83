// Admission that depends on who creates an object (checked once the body is read; the
// authorizer decided from the head alone):
// - a CertificateSigningRequest records its requester (spec.username, groups, uid) as the API
//   server saw them, whatever the body claimed, and starts without status — approvers and
//   signers judge the request by these fields;
// - a node (NodeRestriction) creates only its own Node and its own Lease in kube-node-lease.
#pragma once
#include <string>

#include <boost/json/fwd.hpp>

#include "api/resources.h"
#include "auth/user.h"
#include "common/result.h"

namespace skiff::apiserver {

Status admitRequester(const api::ResourceType& type, const std::string& ns, boost::json::value& object, const auth::UserInfo& user);

}  // namespace skiff::apiserver
