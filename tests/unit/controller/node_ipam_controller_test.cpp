// Node IPAM without a server: the controller over an in-process client and a real store. Every
// Node gets its own range; a restarted controller respects the ranges Nodes hold; a deleted
// Node's range goes to the next node that needs one; ranges Nodes bring are kept, clashes
// reported; hollow nodes get none.
#include "controller/node_ipam_controller.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <set>

#include "api/object.h"
#include "apiserver/registry.h"
#include "client/local_client.h"
#include "store/sqlite/sqlite_store.h"

namespace skiff::controller {
namespace {
namespace fs = std::filesystem;
namespace json = boost::json;

network::Ipv4Cidr cidr(const std::string& text) { return *network::Ipv4Cidr::parse(text); }

class NodeIpamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("skiff-ipam-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    store_ = std::move(*store::openSqliteStore({(dir_ / "store.db").string(), 50, 1024}));
    registry_ = std::make_unique<apiserver::Registry>(*store_);
    ASSERT_TRUE(registry_->bootstrap().ok());
    client_ = std::make_unique<client::LocalClient>(*registry_);
  }
  void TearDown() override {
    client_.reset();
    registry_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }
  const api::ResourceType& nodeType() { return *api::findByKind("v1", "Node"); }
  void createNode(const std::string& name, const std::string& podCidr = "", bool simulated = false) {
    json::object metadata{{"name", name}};
    if (simulated) metadata["labels"] = json::object{{"skiff.dev/simulated", "true"}};
    json::object node{{"metadata", metadata}};
    if (!podCidr.empty()) node["spec"] = json::object{{"podCIDR", podCidr}, {"podCIDRs", json::array{json::string(podCidr)}}};
    ASSERT_TRUE(client_->create(nodeType(), "", node).ok()) << name;
  }
  std::string podCidr(const std::string& name) {
    auto node = client_->get(nodeType(), "", name);
    return node ? api::stringAt(*node, "spec.podCIDR") : "";
  }
  std::unique_ptr<NodeIpamController> controller(client::Informer& nodes, const std::string& cluster, int mask = 24,
                                                 client::EventRecorder* events = nullptr) {
    auto c = NodeIpamController::create(*client_, nodes, NodeIpamOptions{cidr(cluster), mask}, events);
    EXPECT_TRUE(c.ok());
    return c.ok() ? std::move(*c) : nullptr;
  }

  fs::path dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<apiserver::Registry> registry_;
  std::unique_ptr<client::LocalClient> client_;
};

TEST_F(NodeIpamTest, EveryNodeGetsItsOwnRangeInBothFields) {
  for (const char* n : {"a", "b", "c"}) createNode(n);
  client::Informer nodes(*client_, nodeType());
  auto ipam = controller(nodes, "10.244.0.0/16");
  ASSERT_TRUE(nodes.start().ok());
  std::set<std::string> ranges;
  for (const char* n : {"a", "b", "c"}) {
    ASSERT_TRUE(ipam->reconcile(n).ok());
    std::string got = podCidr(n);
    EXPECT_TRUE(cidr("10.244.0.0/16").contains(cidr(got))) << got;
    EXPECT_EQ(cidr(got).prefix, 24);
    auto node = client_->get(nodeType(), "", n);
    EXPECT_EQ(api::stringsAt(*node, "spec.podCIDRs"), std::vector<std::string>{got});
    ranges.insert(got);
  }
  EXPECT_EQ(ranges.size(), 3u);
  ASSERT_TRUE(ipam->reconcile("a").ok());  // a second look changes nothing
  EXPECT_EQ(ipam->rangesInUse(), 3u);
  nodes.stop();
}

TEST_F(NodeIpamTest, ARestartedControllerRespectsTheRangesNodesHold) {
  for (const char* n : {"a", "b"}) createNode(n);
  std::string a, b;
  {
    client::Informer nodes(*client_, nodeType());
    auto first = controller(nodes, "10.244.0.0/22");
    ASSERT_TRUE(nodes.start().ok());
    ASSERT_TRUE(first->reconcile("a").ok());
    ASSERT_TRUE(first->reconcile("b").ok());
    a = podCidr("a");
    b = podCidr("b");
    nodes.stop();
  }
  // Another controller (a restart, or another server taking the Lease) knows only the Nodes.
  createNode("c");
  client::Informer nodes(*client_, nodeType());
  auto second = controller(nodes, "10.244.0.0/22");
  ASSERT_TRUE(nodes.start().ok());
  ASSERT_TRUE(second->reconcile("c").ok());
  std::string c = podCidr("c");
  EXPECT_FALSE(c.empty());
  EXPECT_NE(c, a);
  EXPECT_NE(c, b);
  EXPECT_EQ(second->rangesInUse(), 3u);
  nodes.stop();
}

TEST_F(NodeIpamTest, ADeletedNodesRangeGoesToTheNextNodeWaitingForOne) {
  for (const char* n : {"a", "b", "c"}) createNode(n);
  client::Informer nodes(*client_, nodeType());
  auto ipam = controller(nodes, "10.244.0.0/23");  // room for two nodes
  ASSERT_TRUE(nodes.start().ok());
  ASSERT_TRUE(ipam->reconcile("a").ok());
  ASSERT_TRUE(ipam->reconcile("b").ok());
  auto full = ipam->reconcile("c");
  ASSERT_TRUE(full.ok());
  EXPECT_GT(full->after.count(), 0) << "a node without a range is looked at again";
  EXPECT_EQ(podCidr("c"), "");
  std::string freed = podCidr("a");
  ASSERT_TRUE(client_->remove(nodeType(), "", "a").ok());
  ASSERT_TRUE(ipam->reconcile("a").ok());
  EXPECT_EQ(ipam->rangesInUse(), 1u);
  ASSERT_TRUE(ipam->reconcile("c").ok());
  EXPECT_EQ(podCidr("c"), freed);
  nodes.stop();
}

TEST_F(NodeIpamTest, RangesNodesBringAreKeptAndClashesReported) {
  createNode("own", "10.244.0.0/24");      // where a fresh set would start
  createNode("clash", "10.244.0.128/25");  // inside own's range
  createNode("outside", "10.213.0.0/24");  // not the cluster's: left alone
  createNode("fresh");
  client::Informer nodes(*client_, nodeType());
  client::EventRecorder events(*client_, "node-controller");
  auto ipam = controller(nodes, "10.244.0.0/16", 24, &events);
  ASSERT_TRUE(nodes.start().ok());
  for (const char* n : {"own", "clash", "outside", "fresh"}) ASSERT_TRUE(ipam->reconcile(n).ok()) << n;
  EXPECT_EQ(podCidr("own"), "10.244.0.0/24");
  EXPECT_EQ(podCidr("clash"), "10.244.0.128/25") << "the controller never rewrites a range a Node holds";
  EXPECT_EQ(podCidr("outside"), "10.213.0.0/24");
  EXPECT_EQ(podCidr("fresh"), "10.244.1.0/24");
  EXPECT_EQ(ipam->rangesInUse(), 2u);
  events.flush();
  auto list = client_->list(*api::findByKind("v1", "Event"), "", {});
  ASSERT_TRUE(list.ok());
  std::string reported;
  for (const auto& e : list->items)
    if (api::stringAt(e, "reason") == "CIDRNotAvailable") reported += api::stringAt(e, "involvedObject.name") + ": " + api::stringAt(e, "message") + "\n";
  // The older Node keeps the range (created in the same second here, so either may be older):
  // the other one is told why it has none.
  bool clashReported = reported.find("clash: ") != std::string::npos && reported.find("overlaps 10.244.0.0/24 of node own") != std::string::npos;
  bool ownReported = reported.find("own: ") != std::string::npos && reported.find("overlaps 10.244.0.128/25 of node clash") != std::string::npos;
  EXPECT_TRUE(clashReported != ownReported) << reported;
  EXPECT_EQ(reported.find("outside"), std::string::npos) << "a node's own range outside the cluster CIDR is its business";
  nodes.stop();
}

TEST_F(NodeIpamTest, HollowNodesGetNoRange) {
  createNode("sim-node-0", "", true);
  client::Informer nodes(*client_, nodeType());
  auto ipam = controller(nodes, "10.244.0.0/16");
  ASSERT_TRUE(nodes.start().ok());
  ASSERT_TRUE(ipam->reconcile("sim-node-0").ok());
  EXPECT_EQ(podCidr("sim-node-0"), "");
  EXPECT_EQ(ipam->rangesInUse(), 0u);
  nodes.stop();
}

}  // namespace
}  // namespace skiff::controller
