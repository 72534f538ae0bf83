// Node liveness is judged by lease renewals as this controller sees them, not by the node's
// clock: a node whose clock is hours off but keeps renewing stays Ready; one that stops renewing
// is tainted unreachable after the grace period.
#include "controller/node_lifecycle_controller.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <thread>

#include "api/object.h"
#include "helpers/local_api.h"

namespace skiff::controller {
namespace {
namespace json = boost::json;

TEST(NodeLifecycleController, JudgesLeasesByRenewalsNotByTheNodesClock) {
  {
    test_support::LocalApi api("nlc");
    ASSERT_TRUE(api.ready());
    client::LocalClient& client = api.client();
    const auto& nodeType = *api::findByKind("v1", "Node");
    const auto& leaseType = *api::findByKind("coordination.k8s.io/v1", "Lease");
    for (const char* n : {"skewed", "silent"}) {
      ASSERT_TRUE(client.create(nodeType, "", json::object{{"metadata", json::object{{"name", n}}}}).ok());
      // Both clocks read the year 2000: hours behind the controller's.
      ASSERT_TRUE(client.create(leaseType, "kube-node-lease",
                                json::object{{"metadata", json::object{{"name", n}}},
                                             {"spec", json::object{{"holderIdentity", n}, {"renewTime", "2000-01-01T00:00:00.000000Z"}}}})
                      .ok());
    }
    client::Informer nodes(client, nodeType), leases(client, leaseType), pods(client, *api::findByKind("v1", "Pod"));
    ASSERT_TRUE(nodes.start().ok());
    ASSERT_TRUE(leases.start().ok());
    ASSERT_TRUE(pods.start().ok());
    NodeLifecycleController controller(client, nodes, leases, pods, NodeLifecycleOptions{std::chrono::milliseconds(400)});
    auto tainted = [&](const char* n) {
      auto node = client.get(nodeType, "", n);
      const json::value* taints = node ? api::valueAt(*node, "spec.taints") : nullptr;
      return taints && taints->is_array() && !taints->as_array().empty();
    };
    for (int i = 0; i < 12; ++i) {  // 1.2 s: three grace periods
      std::string stamp = "2000-01-01T00:00:" + std::string(i < 10 ? "0" : "") + std::to_string(i) + ".000000Z";
      ASSERT_TRUE(client.patch(leaseType, "kube-node-lease", "skewed", client::PatchType::Merge,
                               json::object{{"spec", json::object{{"renewTime", stamp}}}}, "")
                      .ok());
      controller.tick();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    controller.tick();
    EXPECT_FALSE(tainted("skewed")) << "a node that keeps renewing was judged by its clock";
    EXPECT_TRUE(tainted("silent")) << "a node that never renewed within the grace period stayed Ready";
    nodes.stop();
    leases.stop();
    pods.stop();
  }
}

TEST(NodeLifecycleController, TaintsANodeWhoseNetworkIsUnavailableUntilItRecovers) {
  {
    test_support::LocalApi api("nlc-net");
    ASSERT_TRUE(api.ready());
    client::LocalClient& client = api.client();
    const auto& nodeType = *api::findByKind("v1", "Node");
    ASSERT_TRUE(client.create(nodeType, "", json::object{{"metadata", json::object{{"name", "n1"}}},
                                                          {"spec", json::object{{"taints", json::array{json::object{{"key", "team"}, {"value", "a"}, {"effect", "NoSchedule"}}}}}}})
                    .ok());
    auto setNetwork = [&](const char* status) {
      ASSERT_TRUE(client.patch(nodeType, "", "n1", client::PatchType::Strategic,
                               json::object{{"status", json::object{{"conditions", json::array{json::object{{"type", "NetworkUnavailable"}, {"status", status}}}}}}},
                               "status")
                      .ok());
    };
    auto taintKeys = [&] {
      std::vector<std::string> keys;
      auto node = client.get(nodeType, "", "n1");
      for (const auto& t : api::arrayAt(*node, "spec.taints")) keys.push_back(api::stringAt(t, "key"));
      return keys;
    };
    client::Informer nodes(client, nodeType), leases(client, *api::findByKind("coordination.k8s.io/v1", "Lease")),
        pods(client, *api::findByKind("v1", "Pod"));
    ASSERT_TRUE(nodes.start().ok());
    ASSERT_TRUE(leases.start().ok());
    ASSERT_TRUE(pods.start().ok());
    NodeLifecycleController controller(client, nodes, leases, pods);
    setNetwork("True");
    controller.tick();
    EXPECT_EQ(taintKeys(), (std::vector<std::string>{"team", "node.kubernetes.io/network-unavailable"}));
    setNetwork("False");
    controller.tick();
    EXPECT_EQ(taintKeys(), (std::vector<std::string>{"team"})) << "the user's own taint must survive";
    nodes.stop();
    leases.stop();
    pods.stop();
  }
}

}  // namespace
}  // namespace skiff::controller
