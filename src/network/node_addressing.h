// NodeAddressing: what the pod network needs of a Node object — its pod range and the address
// other nodes reach it at — read once from the JSON into a typed struct. The node IPAM
// controller and each node's overlay read Nodes through it.
#pragma once
#include <optional>
#include <string>

#include <boost/json/value.hpp>

#include "network/ipv4_cidr.h"

namespace skiff::network {

struct NodeAddressing {
  std::string name;
  std::string podCidrText;            // spec.podCIDRs[0], else spec.podCIDR; "" = none yet
  std::optional<Ipv4Cidr> podCidr;    // unset when absent or not an IPv4 range
  std::optional<uint32_t> internalIp;  // status.addresses InternalIP (the first IPv4 one)
};

NodeAddressing nodeAddressingOf(const boost::json::value& node);

}  // namespace skiff::network
