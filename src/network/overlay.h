// Overlay: the pod network between nodes, as flannel's vxlan backend builds it. Each node has a
// kernel VXLAN device (VNI 1, UDP port 8472, no learning) whose address is the network address
// of its pod range (10.244.1.0/32) and whose MAC is derived from it (0a:58 + the four address
// bytes, so no node has to publish its MAC). For every other node it keeps three entries:
//   route      10.244.2.0/24 via 10.244.2.0 dev <vxlan> onlink
//   neighbour  10.244.2.0 lladdr 0a:58:0a:f4:02:00 (permanent)
//   fdb        0a:58:0a:f4:02:00 dst <that node's InternalIP> (permanent)
// so a packet for a pod there is wrapped in UDP to that node, whose device unwraps it and
// forwards it to its bridge. Pods reach pods on other nodes by pod IP with no NAT, and the node
// (its proxy, for cluster IPs with endpoints elsewhere) reaches them from its device address.
//
// The device is made when the first other node appears (a single machine never has one) and
// kept when skiff stops, as flannel keeps flannel.1: pods that outlive a crashed or restarting
// agent keep their paths. An existing device with other settings is replaced. Entries are
// reconciled against what the kernel holds, so a node deleted while the agent was down loses
// its route too.
//
// Threading: sync() from one thread at a time (OverlayController's).
#pragma once
#include <string>
#include <vector>

#include "network/netlink.h"

namespace skiff::network {

struct OverlayPeer {
  std::string node;
  Ipv4Cidr podCidr;
  uint32_t nodeIp = 0;  // host order
  bool operator==(const OverlayPeer&) const = default;
};

struct OverlayOptions {
  std::string device = "skiff.1";
  uint32_t vni = 1;
  uint16_t port = 8472;
};

// The VTEP MAC of a node with this pod range: 0a:58 (locally administered, unicast) + the range's
// network address.
MacAddress vtepMac(const Ipv4Cidr& podCidr);
// What the device holds now, and what it should hold.
struct OverlayEntries {
  std::vector<RouteEntry> routes;
  std::vector<NeighbourEntry> neighbours;
  std::vector<NeighbourEntry> fdb;
};
OverlayEntries desiredEntries(const std::vector<OverlayPeer>& peers);
// The changes that turn `current` into `desired`: entries to add (or fix) and to remove.
struct OverlayChanges {
  OverlayEntries add, remove;
  bool empty() const;
};
OverlayChanges planOverlay(const OverlayEntries& current, const OverlayEntries& desired);

class Overlay {
 public:
  // `localCidr`: this node's pod range; `localIp`: its InternalIP (the tunnel's source).
  Overlay(OverlayOptions options, Ipv4Cidr localCidr, uint32_t localIp);
  // Makes the kernel match `peers` (creating the device on the first one). Returns the changes
  // made, for the log.
  Result<OverlayChanges> sync(const std::vector<OverlayPeer>& peers);
  // The MTU pods should use: the node interface's minus the 50 bytes of VXLAN headers.
  Result<int> podMtu();
  const OverlayOptions& options() const { return options_; }

 private:
  // The device with this node's settings, made or replaced as needed; its index.
  Result<int> ensureDevice();

  OverlayOptions options_;
  Ipv4Cidr localCidr_;
  uint32_t localIp_;
  bool forwarding_ = false;
};

}  // namespace skiff::network
