// Ipv4Cidr: an IPv4 network (address and prefix length) parsed once at the edge, with the
// arithmetic the pod network needs (containment, overlap, the n-th address). Addresses are
// host-order uint32_t inside; strings only at the edges.
#pragma once
#include <cstdint>
#include <string>

#include "common/result.h"

namespace skiff::network {

// "10.244.1.7" -> host order; an error says what was expected.
Result<uint32_t> parseIpv4(const std::string& text);
std::string ipv4String(uint32_t hostOrder);

struct Ipv4Cidr {
  uint32_t network = 0;  // host order, host bits zero
  int prefix = 0;        // 0..32

  // "10.244.0.0/16". Host bits must be zero ("10.244.1.5/16" is refused, as Kubernetes' CIDR
  // fields refuse it), so every range has one spelling.
  static Result<Ipv4Cidr> parse(const std::string& text);
  std::string str() const { return ipv4String(network) + "/" + std::to_string(prefix); }
  uint32_t mask() const { return prefix == 0 ? 0 : ~uint32_t(0) << (32 - prefix); }
  uint64_t size() const { return uint64_t(1) << (32 - prefix); }
  // The address `offset` past the network address (offset < size()).
  uint32_t at(uint64_t offset) const { return network + uint32_t(offset); }
  bool contains(uint32_t address) const { return (address & mask()) == network; }
  bool contains(const Ipv4Cidr& other) const { return other.prefix >= prefix && contains(other.network); }
  bool overlaps(const Ipv4Cidr& other) const { return contains(other) || other.contains(*this); }
  bool operator==(const Ipv4Cidr&) const = default;
};

}  // namespace skiff::network
