// The node's own address (its InternalIP), as the kubelet picks it when --node-ip is not given:
// the IPv4 address of the interface that holds the default route.
#pragma once
#include <string>

namespace skiff::agent {

// "" when there is no default route or its interface has no IPv4 address.
std::string defaultRouteAddress();

}  // namespace skiff::agent
