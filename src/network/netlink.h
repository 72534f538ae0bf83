// Just enough rtnetlink to build a pod network: bridges, veth pairs (the peer created straight in
// a pod's namespace), addresses, link state and default routes, and for the overlay between
// nodes a VXLAN device with its routes, neighbour (ARP) and forwarding-database entries. Every
// change is one request with an acknowledgement; errors come back as the kernel's errno in words.
// Reads (link details, dumps of routes and neighbours) parse the kernel's answer into small structs.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/result.h"
#include "network/ipv4_cidr.h"

struct nlmsghdr;

namespace skiff::network {

using MacAddress = std::array<uint8_t, 6>;
std::string macString(const MacAddress& mac);

struct LinkDetails {
  int index = 0;
  int mtu = 0;
  std::string kind;  // IFLA_INFO_KIND: "bridge", "veth", "vxlan"; "" for plain devices
  MacAddress mac{};
  // kind "vxlan" only:
  uint32_t vxlanId = 0;
  uint32_t vxlanLocal = 0;  // host order
  uint16_t vxlanPort = 0;   // host order
  int vxlanUnderlay = 0;    // IFLA_VXLAN_LINK
};

struct VxlanSpec {
  std::string name;
  uint32_t vni = 1;
  uint32_t local = 0;  // host order: the node's address, source of the encapsulated packets
  uint16_t port = 8472;
  int underlay = 0;  // index of the interface holding `local`; 0 = let routing decide
  MacAddress mac{};
  int mtu = 0;  // 0 = the kernel's choice
};

struct RouteEntry {
  Ipv4Cidr destination;
  uint32_t gateway = 0;  // host order; 0 = none
};

// A permanent neighbour (ARP) entry, or (forwarding database) a MAC's remote VTEP address.
struct NeighbourEntry {
  uint32_t address = 0;  // host order: the neighbour's IP, or the fdb entry's NDA_DST
  MacAddress mac{};
};

// A netlink socket bound to the network namespace of the thread that opened it.
class Netlink {
 public:
  Netlink();
  ~Netlink();
  Netlink(const Netlink&) = delete;
  Netlink& operator=(const Netlink&) = delete;
  bool ok() const { return fd_ >= 0; }

  Result<int> linkIndex(const std::string& name);
  Status createBridge(const std::string& name);
  // Creates `hostName` here and its peer `peerName` inside the namespace open at `netnsFd`
  // (both ends with `mtu` when it is not 0).
  Status createVethPair(const std::string& hostName, const std::string& peerName, int netnsFd, int mtu = 0);
  Result<LinkDetails> linkDetails(const std::string& name);
  Result<LinkDetails> linkDetails(int index);
  // The interface that holds the IPv4 address `address` (host order).
  Result<LinkDetails> linkHoldingAddress(uint32_t address);
  Status createVxlan(const VxlanSpec& spec);
  Status setUp(const std::string& name);
  Status setMaster(const std::string& name, const std::string& master);
  Status deleteLink(const std::string& name);
  // address "10.244.0.5", prefix 16.
  Status addAddress(const std::string& name, const std::string& address, int prefix);
  Status deleteAddress(const std::string& name, const std::string& address, int prefix);
  Status addDefaultRoute(const std::string& gateway);

  // Routes of the main table through interface `oif`: add or replace, remove, list.
  Status replaceRoute(const Ipv4Cidr& destination, uint32_t gateway, int oif, bool onlink);
  Status deleteRoute(const Ipv4Cidr& destination, int oif);
  Result<std::vector<RouteEntry>> routesThrough(int oif);
  // Permanent IPv4 neighbour entries on interface `index`.
  Status replaceNeighbour(int index, uint32_t address, const MacAddress& mac);
  Status deleteNeighbour(int index, uint32_t address);
  Result<std::vector<NeighbourEntry>> neighbours(int index);
  // The device's own forwarding database (a VXLAN device's MAC -> remote VTEP entries).
  Status replaceFdb(int index, const MacAddress& mac, uint32_t destination);
  Status deleteFdb(int index, const MacAddress& mac, uint32_t destination);
  Result<std::vector<NeighbourEntry>> fdb(int index);

 private:
  Status transact(void* message, uint32_t length, const std::string& what, int* linkIndexOut = nullptr);
  Status changeAddress(uint16_t type, const std::string& name, const std::string& address, int prefix);
  // Sends a request and hands every answer message with its sequence number to `onMessage`
  // until the acknowledgement (or, with `dump`, NLMSG_DONE).
  Status exchange(void* message, uint32_t length, const std::string& what, bool dump,
                  const std::function<void(const ::nlmsghdr*)>& onMessage);
  Status changeNeighbour(uint16_t type, uint16_t flags, uint8_t family, int index, uint16_t state, uint8_t ntfFlags,
                         const uint32_t* address, const MacAddress* mac, const std::string& what);
  Result<std::vector<NeighbourEntry>> dumpNeighbours(uint8_t family, int index);
  int fd_ = -1;
  uint32_t seq_ = 1;
};

}  // namespace skiff::network
