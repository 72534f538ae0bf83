// The address other machines reach this one at, when nobody said: the IPv4 address of the
// interface that holds the default route with the lowest metric (what kubelet and
// kube-apiserver pick by default for --node-ip / --advertise-address).
#pragma once
#include <string>

namespace skiff::network {

// "" when there is no default route (or it has no IPv4 address): callers fall back to loopback.
std::string defaultRouteAddress();

}  // namespace skiff::network
