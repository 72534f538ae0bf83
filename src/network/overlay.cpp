#include "network/overlay.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <tuple>

#include "common/log.h"

namespace skiff::network {
namespace {

// VXLAN over IPv4 adds 50 bytes: outer IPv4 (20), UDP (8), VXLAN (8), inner Ethernet (14).
constexpr int kVxlanOverhead = 50;

template <class T, class Key>
bool holds(const std::vector<T>& list, const T& entry, Key key) {
  return std::any_of(list.begin(), list.end(), [&](const T& e) { return key(e) == key(entry); });
}

// Routed packets between the node's bridge and its VXLAN device need forwarding on; a new
// network namespace (and some hosts) start with it off.
Status enableForwarding() {
  int fd = ::open("/proc/sys/net/ipv4/ip_forward", O_RDWR | O_CLOEXEC);
  if (fd < 0) return Error::unavailable(std::string("cannot open /proc/sys/net/ipv4/ip_forward: ") + std::strerror(errno));
  char now = '0';
  bool ok = ::read(fd, &now, 1) == 1;
  if (ok && now != '1') {
    ok = ::pwrite(fd, "1", 1, 0) == 1;
    if (ok) log::info("overlay", "turned IPv4 forwarding on (pods' packets cross this node to and from other nodes)");
  }
  ::close(fd);
  if (!ok) return Error::unavailable("cannot turn on IPv4 forwarding (/proc/sys/net/ipv4/ip_forward)");
  return {};
}

}  // namespace

MacAddress vtepMac(const Ipv4Cidr& podCidr) {
  uint32_t n = podCidr.network;
  return {0x0a, 0x58, uint8_t(n >> 24), uint8_t(n >> 16), uint8_t(n >> 8), uint8_t(n)};
}

OverlayEntries desiredEntries(const std::vector<OverlayPeer>& peers) {
  OverlayEntries e;
  for (const auto& p : peers) {
    uint32_t vtep = p.podCidr.network;
    e.routes.push_back({p.podCidr, vtep});
    e.neighbours.push_back({vtep, vtepMac(p.podCidr)});
    e.fdb.push_back({p.nodeIp, vtepMac(p.podCidr)});
  }
  return e;
}

bool OverlayChanges::empty() const {
  return add.routes.empty() && add.neighbours.empty() && add.fdb.empty() && remove.routes.empty() && remove.neighbours.empty() &&
         remove.fdb.empty();
}

OverlayChanges planOverlay(const OverlayEntries& current, const OverlayEntries& desired) {
  OverlayChanges c;
  // Routes and neighbours are keyed by destination and address (a replace fixes a wrong
  // gateway or MAC); forwarding entries by MAC and destination (a MAC may have several).
  auto routeKey = [](const RouteEntry& r) { return std::pair(r.destination.network, r.destination.prefix); };
  auto routeWhole = [](const RouteEntry& r) { return std::tuple(r.destination.network, r.destination.prefix, r.gateway); };
  auto neighbourKey = [](const NeighbourEntry& n) { return n.address; };
  auto neighbourWhole = [](const NeighbourEntry& n) { return std::pair(n.address, n.mac); };
  for (const auto& r : desired.routes)
    if (!holds(current.routes, r, routeWhole)) c.add.routes.push_back(r);
  for (const auto& r : current.routes)
    if (!holds(desired.routes, r, routeKey)) c.remove.routes.push_back(r);
  for (const auto& n : desired.neighbours)
    if (!holds(current.neighbours, n, neighbourWhole)) c.add.neighbours.push_back(n);
  for (const auto& n : current.neighbours)
    if (!holds(desired.neighbours, n, neighbourKey)) c.remove.neighbours.push_back(n);
  for (const auto& f : desired.fdb)
    if (!holds(current.fdb, f, neighbourWhole)) c.add.fdb.push_back(f);
  for (const auto& f : current.fdb)
    if (!holds(desired.fdb, f, neighbourWhole)) c.remove.fdb.push_back(f);
  return c;
}

Overlay::Overlay(OverlayOptions options, Ipv4Cidr localCidr, uint32_t localIp)
    : options_(std::move(options)), localCidr_(localCidr), localIp_(localIp) {}

Result<int> Overlay::podMtu() {
  // A node known only by a loopback address has no path to others: keep the kernel's default.
  if ((localIp_ >> 24) == 127) return 0;
  Netlink nl;
  auto link = nl.linkHoldingAddress(localIp_);
  if (!link) return Error::unavailable("this node's address " + ipv4String(localIp_) + " is on no interface here: " + link.error().message);
  return link->mtu - kVxlanOverhead;
}

Result<int> Overlay::ensureDevice() {
  Netlink nl;
  MacAddress mac = vtepMac(localCidr_);
  if (auto existing = nl.linkDetails(options_.device)) {
    bool same = existing->kind == "vxlan" && existing->vxlanId == options_.vni && existing->vxlanLocal == localIp_ &&
                existing->vxlanPort == options_.port && existing->mac == mac;
    if (!same) {
      log::info("overlay", options_.device + " has other settings (an earlier pod range or address): replacing it");
      if (Status s = nl.deleteLink(options_.device); !s) return s.error();
    }
  }
  if (!nl.linkDetails(options_.device)) {
    auto underlay = nl.linkHoldingAddress(localIp_);
    if (!underlay) return Error::unavailable("the overlay needs this node's address " + ipv4String(localIp_) + " on an interface: " + underlay.error().message);
    VxlanSpec spec{options_.device, options_.vni, localIp_, options_.port, underlay->index, mac, underlay->mtu - kVxlanOverhead};
    if (Status s = nl.createVxlan(spec); !s) return s.error();
    log::info("overlay", "created " + options_.device + " (VXLAN " + std::to_string(options_.vni) + ", UDP " + std::to_string(options_.port) +
                             ", from " + ipv4String(localIp_) + ", MAC " + macString(mac) + ")");
  }
  if (Status s = nl.addAddress(options_.device, ipv4String(localCidr_.network), 32); !s) return s.error();
  if (Status s = nl.setUp(options_.device); !s) return s.error();
  if (!forwarding_) {
    if (Status s = enableForwarding(); !s) return s.error();
    forwarding_ = true;
  }
  auto index = nl.linkIndex(options_.device);
  if (!index) return index.error();
  return *index;
}

Result<OverlayChanges> Overlay::sync(const std::vector<OverlayPeer>& peers) {
  Netlink nl;
  if (peers.empty() && !nl.linkDetails(options_.device)) return OverlayChanges{};  // one machine: no device at all
  auto index = ensureDevice();
  if (!index) return index.error();
  auto routes = nl.routesThrough(*index);
  if (!routes) return routes.error();
  auto neighbours = nl.neighbours(*index);
  if (!neighbours) return neighbours.error();
  auto fdb = nl.fdb(*index);
  if (!fdb) return fdb.error();
  OverlayChanges c = planOverlay({*routes, *neighbours, *fdb}, desiredEntries(peers));
  // Leaving nodes first (their routes before their layer-2 entries), then arriving ones (their
  // layer-2 entries before their routes, so the first packet finds its way).
  for (const auto& r : c.remove.routes)
    if (Status s = nl.deleteRoute(r.destination, *index); !s) return s.error();
  for (const auto& n : c.remove.neighbours)
    if (Status s = nl.deleteNeighbour(*index, n.address); !s) return s.error();
  for (const auto& f : c.remove.fdb)
    if (Status s = nl.deleteFdb(*index, f.mac, f.address); !s) return s.error();
  for (const auto& f : c.add.fdb)
    if (Status s = nl.replaceFdb(*index, f.mac, f.address); !s) return s.error();
  for (const auto& n : c.add.neighbours)
    if (Status s = nl.replaceNeighbour(*index, n.address, n.mac); !s) return s.error();
  for (const auto& r : c.add.routes)
    if (Status s = nl.replaceRoute(r.destination, r.gateway, *index, true); !s) return s.error();
  return c;
}

}  // namespace skiff::network
