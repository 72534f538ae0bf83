// Validation of Gateway API objects (gateway.networking.k8s.io/v1 GatewayClass, Gateway,
// HTTPRoute) beyond their schema: what a Gateway API CRD's OpenAPI and CEL rules would refuse.
#pragma once
#include <string_view>
#include <vector>

#include <boost/json/fwd.hpp>

#include "api/traffic_policy.h"

namespace skiff::api {

void validateGatewayApi(std::string_view kind, const boost::json::value& object, std::vector<PolicyProblem>& problems);

}  // namespace skiff::api
