// The overlay between nodes: who is a peer (from Node objects), what entries the kernel should
// hold for them (flannel's layout: route via the peer's VTEP address onlink, a permanent
// neighbour, a forwarding entry to the peer's InternalIP), and the VXLAN device itself, built and
// reconciled in a network namespace of the test's own.
#include "network/overlay.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <fstream>
#include <thread>

#include "network/overlay_controller.h"

namespace skiff::network {
namespace {
namespace json = boost::json;

Ipv4Cidr range(const std::string& text) { return *Ipv4Cidr::parse(text); }
uint32_t ip(const std::string& text) { return *parseIpv4(text); }

client::ObjectPtr node(const std::string& name, const std::string& podCidr, const std::string& internalIp,
                       const std::string& addressType = "InternalIP") {
  json::object n{{"metadata", json::object{{"name", name}}}};
  if (!podCidr.empty()) n["spec"] = json::object{{"podCIDR", podCidr}};
  if (!internalIp.empty())
    n["status"] = json::object{{"addresses", json::array{json::object{{"type", "Hostname"}, {"address", name}},
                                                         json::object{{"type", addressType}, {"address", internalIp}}}}};
  return std::make_shared<const json::value>(n);
}

TEST(Overlay, VtepMacEncodesTheRange) {
  EXPECT_EQ(macString(vtepMac(range("10.244.2.0/24"))), "0a:58:0a:f4:02:00");
  EXPECT_NE(vtepMac(range("10.244.2.0/24")), vtepMac(range("10.244.3.0/24")));
}

TEST(Overlay, PeersAreOtherNodesWithARangeAndAnAddress) {
  std::vector<client::ObjectPtr> nodes{
      node("self", "10.244.1.0/24", "10.99.0.11"),
      node("c", "10.244.3.0/24", "10.99.0.13"),
      node("b", "10.244.2.0/24", "10.99.0.12"),
      node("no-range", "", "10.99.0.14"),
      node("no-address", "10.244.4.0/24", ""),
      node("external-only", "10.244.5.0/24", "10.99.0.15", "ExternalIP"),
      node("same-machine", "10.244.6.0/24", "10.99.0.11"),
      node("loopback", "10.244.7.0/24", "127.0.0.1"),
      node("overlaps-self", "10.244.1.128/25", "10.99.0.16"),
      node("d-overlaps-b", "10.244.2.0/23", "10.99.0.17"),
  };
  auto peers = overlayPeers(nodes, "self", range("10.244.1.0/24"), ip("10.99.0.11"));
  ASSERT_EQ(peers.size(), 2u);
  EXPECT_EQ(peers[0], (OverlayPeer{"b", range("10.244.2.0/24"), ip("10.99.0.12")}));
  EXPECT_EQ(peers[1], (OverlayPeer{"c", range("10.244.3.0/24"), ip("10.99.0.13")}));
}

TEST(Overlay, PlanAddsArrivalsRemovesDeparturesAndFixesMovedNodes) {
  std::vector<OverlayPeer> before{{"b", range("10.244.2.0/24"), ip("10.99.0.12")}, {"c", range("10.244.3.0/24"), ip("10.99.0.13")}};
  std::vector<OverlayPeer> after{{"b", range("10.244.2.0/24"), ip("10.99.0.22")},  // b moved to another address
                                 {"d", range("10.244.4.0/24"), ip("10.99.0.14")}};
  auto same = planOverlay(desiredEntries(before), desiredEntries(before));
  EXPECT_TRUE(same.empty());
  auto c = planOverlay(desiredEntries(before), desiredEntries(after));
  ASSERT_EQ(c.add.routes.size(), 1u);
  EXPECT_EQ(c.add.routes[0].destination, range("10.244.4.0/24"));
  EXPECT_EQ(c.add.routes[0].gateway, ip("10.244.4.0"));
  ASSERT_EQ(c.remove.routes.size(), 1u);
  EXPECT_EQ(c.remove.routes[0].destination, range("10.244.3.0/24"));
  ASSERT_EQ(c.add.neighbours.size(), 1u);
  EXPECT_EQ(c.add.neighbours[0].address, ip("10.244.4.0"));
  EXPECT_EQ(c.add.neighbours[0].mac, vtepMac(range("10.244.4.0/24")));
  ASSERT_EQ(c.remove.neighbours.size(), 1u);
  EXPECT_EQ(c.remove.neighbours[0].address, ip("10.244.3.0"));
  // Forwarding entries: b's MAC now goes to its new address (old entry out), d's in, c's out.
  ASSERT_EQ(c.add.fdb.size(), 2u);
  EXPECT_EQ(c.add.fdb[0].address, ip("10.99.0.22"));
  EXPECT_EQ(c.add.fdb[1].address, ip("10.99.0.14"));
  ASSERT_EQ(c.remove.fdb.size(), 2u);
  EXPECT_EQ(c.remove.fdb[0].address, ip("10.99.0.12"));
  EXPECT_EQ(c.remove.fdb[1].address, ip("10.99.0.13"));
}

// Runs `body` on a thread in a fresh network namespace (gone with the thread, devices and all)
// that has a veth pair with this node's address on one end.
void inFreshNetns(const std::function<void(Netlink&)>& body) {
  std::thread([&] {
    ASSERT_EQ(unshare(CLONE_NEWNET), 0) << "needs root: " << std::strerror(errno);
    Netlink nl;
    ASSERT_TRUE(nl.ok());
    int self = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    ASSERT_TRUE(nl.createVethPair("eth0", "eth1", self).ok());
    ::close(self);
    ASSERT_TRUE(nl.addAddress("eth0", "10.99.0.11", 24).ok());
    ASSERT_TRUE(nl.setUp("eth0").ok());
    ASSERT_TRUE(nl.setUp("eth1").ok());
    body(nl);
  }).join();
}

TEST(Overlay, BuildsAndReconcilesTheVxlanDevice) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces)";
  inFreshNetns([](Netlink& nl) {
    Overlay overlay(OverlayOptions{}, range("10.244.1.0/24"), ip("10.99.0.11"));
    auto none = overlay.sync({});
    ASSERT_TRUE(none.ok()) << none.error().message;
    EXPECT_FALSE(nl.linkDetails("skiff.1").ok()) << "a node alone makes no device";
    auto mtu = overlay.podMtu();
    ASSERT_TRUE(mtu.ok()) << mtu.error().message;
    EXPECT_EQ(*mtu, 1450);

    std::vector<OverlayPeer> peers{{"b", range("10.244.2.0/24"), ip("10.99.0.12")}, {"c", range("10.244.3.0/24"), ip("10.99.0.13")}};
    auto made = overlay.sync(peers);
    ASSERT_TRUE(made.ok()) << made.error().message;
    auto dev = nl.linkDetails("skiff.1");
    ASSERT_TRUE(dev.ok());
    EXPECT_EQ(dev->kind, "vxlan");
    EXPECT_EQ(dev->vxlanId, 1u);
    EXPECT_EQ(dev->vxlanPort, 8472);
    EXPECT_EQ(dev->vxlanLocal, ip("10.99.0.11"));
    EXPECT_EQ(dev->mtu, 1450);
    EXPECT_EQ(dev->mac, vtepMac(range("10.244.1.0/24")));
    auto routes = nl.routesThrough(dev->index);
    ASSERT_TRUE(routes.ok());
    ASSERT_EQ(routes->size(), 2u);
    EXPECT_EQ((*routes)[0].destination, range("10.244.2.0/24"));
    EXPECT_EQ((*routes)[0].gateway, ip("10.244.2.0"));
    auto fdb = nl.fdb(dev->index);
    ASSERT_TRUE(fdb.ok());
    ASSERT_EQ(fdb->size(), 2u);
    auto neighbours = nl.neighbours(dev->index);
    ASSERT_TRUE(neighbours.ok());
    EXPECT_EQ(neighbours->size(), 2u);
    std::ifstream forwarding("/proc/sys/net/ipv4/ip_forward");
    std::string on;
    forwarding >> on;
    EXPECT_EQ(on, "1");
    auto again = overlay.sync(peers);
    ASSERT_TRUE(again.ok());
    EXPECT_TRUE(again->empty()) << "a second pass finds nothing to do";

    // c leaves; an entry of a node the agent never knew (left by an earlier run) goes too.
    ASSERT_TRUE(nl.replaceRoute(range("10.244.9.0/24"), ip("10.244.9.0"), dev->index, true).ok());
    auto left = overlay.sync({peers[0]});
    ASSERT_TRUE(left.ok()) << left.error().message;
    routes = nl.routesThrough(dev->index);
    ASSERT_TRUE(routes.ok());
    ASSERT_EQ(routes->size(), 1u);
    EXPECT_EQ((*routes)[0].destination, range("10.244.2.0/24"));
    fdb = nl.fdb(dev->index);
    ASSERT_TRUE(fdb.ok());
    ASSERT_EQ(fdb->size(), 1u);
    EXPECT_EQ((*fdb)[0].address, ip("10.99.0.12"));
    EXPECT_EQ(nl.neighbours(dev->index)->size(), 1u);

    // This node's range changed (its Node was replaced): the device is made again with the new
    // MAC and address.
    Overlay moved(OverlayOptions{}, range("10.244.7.0/24"), ip("10.99.0.11"));
    ASSERT_TRUE(moved.sync({peers[0]}).ok());
    auto redone = nl.linkDetails("skiff.1");
    ASSERT_TRUE(redone.ok());
    EXPECT_EQ(redone->mac, vtepMac(range("10.244.7.0/24")));
    EXPECT_EQ(nl.routesThrough(redone->index)->size(), 1u);

    auto gone = moved.sync({});
    ASSERT_TRUE(gone.ok());
    EXPECT_TRUE(nl.linkDetails("skiff.1").ok()) << "the device stays (as flannel's) with no entries";
    EXPECT_TRUE(nl.routesThrough(redone->index)->empty());
    EXPECT_TRUE(nl.fdb(redone->index)->empty());
  });
}

}  // namespace
}  // namespace skiff::network
