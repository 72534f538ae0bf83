#include "network/node_addressing.h"

#include <boost/json.hpp>

#include "api/object.h"

namespace skiff::network {

NodeAddressing nodeAddressingOf(const boost::json::value& node) {
  NodeAddressing out;
  out.name = api::stringAt(node, "metadata.name");
  if (const auto* list = api::valueAt(node, "spec.podCIDRs"); list && list->is_array() && !list->get_array().empty() &&
                                                               list->get_array()[0].is_string())
    out.podCidrText = std::string(list->get_array()[0].get_string());
  if (out.podCidrText.empty()) out.podCidrText = api::stringAt(node, "spec.podCIDR");
  if (!out.podCidrText.empty())
    if (auto cidr = Ipv4Cidr::parse(out.podCidrText)) out.podCidr = *cidr;
  if (const auto* addresses = api::valueAt(node, "status.addresses"); addresses && addresses->is_array())
    for (const auto& a : addresses->get_array()) {
      if (api::stringAt(a, "type") != "InternalIP") continue;
      if (auto ip = parseIpv4(api::stringAt(a, "address"))) {
        out.internalIp = *ip;
        break;
      }
    }
  return out;
}

}  // namespace skiff::network
