// Validation of the traffic APIs the node proxy serves beyond their schema, as their CRDs' OpenAPI
// and CEL rules would refuse: Gateway API (gateway.networking.k8s.io/v1 GatewayClass, Gateway,
// HTTPRoute, GRPCRoute, TLSRoute; v1alpha2 TCPRoute, UDPRoute; v1beta1 ReferenceGrant) and Istio's
// AuthorizationPolicy (security.istio.io/v1: ALLOW and DENY).
#pragma once
#include <string_view>
#include <vector>

#include <boost/json/fwd.hpp>

#include "api/traffic_policy.h"

namespace skiff::api {

void validateGatewayApi(std::string_view kind, const boost::json::value& object, std::vector<PolicyProblem>& problems);

}  // namespace skiff::api
