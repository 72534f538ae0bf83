// The pod garbage collector removes what no agent will ever finish: pods bound to a deleted
// Node (after the quarantine, confirmed by the server), terminating pods on an out-of-service
// node, and the oldest terminated pods past the threshold. Pods on live nodes are never touched.
#include "controller/pod_gc_controller.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <thread>

#include "api/object.h"
#include "helpers/local_api.h"

namespace skiff::controller {
namespace {
namespace json = boost::json;

class PodGcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(api_.ready());
    client_ = &api_.client();
    nodes_ = std::make_unique<client::Informer>(*client_, nodeType());
    pods_ = std::make_unique<client::Informer>(*client_, podType());
  }
  // After the controller is made: it follows terminated pods through a handler.
  void startInformers() {
    ASSERT_TRUE(nodes_->start().ok());
    ASSERT_TRUE(pods_->start().ok());
  }
  void TearDown() override {
    pods_->stop();
    nodes_->stop();
  }
  static const api::ResourceType& nodeType() { return *api::findByKind("v1", "Node"); }
  static const api::ResourceType& podType() { return *api::findByKind("v1", "Pod"); }
  void node(const std::string& name, json::array taints = {}, const std::string& ready = "True") {
    ASSERT_TRUE(client_->create(nodeType(), "", json::object{{"metadata", json::object{{"name", name}}}, {"spec", json::object{{"taints", taints}}}})
                    .ok());
    ASSERT_TRUE(client_->patch(nodeType(), "", name, client::PatchType::Merge,
                               json::object{{"status", json::object{{"conditions", json::array{json::object{{"type", "Ready"}, {"status", ready}}}}}}},
                               "status")
                    .ok());
  }
  void pod(const std::string& name, const std::string& nodeName, const std::string& phase = "Running") {
    json::object spec{{"containers", json::array{json::object{{"name", "c"}, {"image", "busybox"}}}}};
    if (!nodeName.empty()) spec["nodeName"] = nodeName;
    ASSERT_TRUE(client_->create(podType(), "default", json::object{{"metadata", json::object{{"name", name}}}, {"spec", spec}}).ok());
    ASSERT_TRUE(client_->patch(podType(), "default", name, client::PatchType::Merge, json::object{{"status", json::object{{"phase", phase}}}},
                               "status")
                    .ok());
  }
  bool exists(const std::string& name) { return client_->get(podType(), "default", name).ok(); }
  // Informers see LocalClient writes before the call returns, but give a REST-like lag a chance.
  void settle() { std::this_thread::sleep_for(std::chrono::milliseconds(50)); }

  test_support::LocalApi api_{"podgc"};
  client::LocalClient* client_ = nullptr;
  std::unique_ptr<client::Informer> nodes_, pods_;
};

TEST_F(PodGcTest, DeletesPodsOfADeletedNodeAfterTheQuarantineOnly) {
  node("gone");
  node("alive");
  pod("orphan", "gone");
  pod("kept", "alive");
  pod("pending", "");
  ASSERT_TRUE(client_->remove(nodeType(), "", "gone").ok());
  settle();
  PodGcController gc(*client_, *nodes_, *pods_, PodGcOptions{std::chrono::milliseconds(300), std::chrono::milliseconds(100), 100});
  startInformers();
  gc.tick();
  EXPECT_TRUE(exists("orphan")) << "deleted before the quarantine ran out";
  std::this_thread::sleep_for(std::chrono::milliseconds(350));
  gc.tick();
  EXPECT_FALSE(exists("orphan")) << "a pod bound to a deleted node stayed";
  EXPECT_TRUE(exists("kept"));
  EXPECT_TRUE(exists("pending")) << "an unscheduled pod is not an orphan";
}

TEST_F(PodGcTest, ANodeThatComesBackInTimeKeepsItsPods) {
  node("flaky");
  pod("p", "flaky");
  ASSERT_TRUE(client_->remove(nodeType(), "", "flaky").ok());
  settle();
  PodGcController gc(*client_, *nodes_, *pods_, PodGcOptions{std::chrono::milliseconds(300), std::chrono::milliseconds(100), 100});
  startInformers();
  gc.tick();
  node("flaky");  // re-registered, as an agent does after its Node was deleted
  settle();
  std::this_thread::sleep_for(std::chrono::milliseconds(350));
  gc.tick();
  EXPECT_TRUE(exists("p"));
}

TEST_F(PodGcTest, ForceDeletesTerminatingPodsOnAnOutOfServiceNode) {
  node("down", json::array{json::object{{"key", "node.kubernetes.io/out-of-service"}, {"effect", "NoExecute"}}}, "Unknown");
  node("up", json::array{json::object{{"key", "node.kubernetes.io/out-of-service"}, {"effect", "NoExecute"}}}, "True");
  pod("stuck", "down");
  pod("running", "down");
  pod("onready", "up");
  ASSERT_TRUE(client_->remove(podType(), "default", "stuck").ok());   // graceful: waits for an agent that is gone
  ASSERT_TRUE(client_->remove(podType(), "default", "onready").ok());
  ASSERT_TRUE(exists("stuck"));
  settle();
  PodGcController gc(*client_, *nodes_, *pods_, PodGcOptions{std::chrono::milliseconds(300), std::chrono::milliseconds(100), 100});
  startInformers();
  gc.tick();
  EXPECT_FALSE(exists("stuck"));
  EXPECT_TRUE(exists("running")) << "only terminating pods are force-deleted";
  EXPECT_TRUE(exists("onready")) << "a Ready node's agent finishes its own pods";
}

TEST_F(PodGcTest, KeepsAtMostTheThresholdOfTerminatedPodsOldestGoFirst) {
  node("n");
  pod("first", "n", "Succeeded");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // creationTimestamp has second resolution
  pod("second", "n", "Failed");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  pod("third", "n", "Succeeded");
  pod("live", "n");
  settle();
  PodGcController gc(*client_, *nodes_, *pods_, PodGcOptions{std::chrono::milliseconds(300), std::chrono::milliseconds(100), 2});
  startInformers();
  gc.tick();
  EXPECT_FALSE(exists("first")) << "the oldest terminated pod past the threshold stayed";
  EXPECT_TRUE(exists("second"));
  EXPECT_TRUE(exists("third"));
  EXPECT_TRUE(exists("live")) << "a running pod is never counted";
}

}  // namespace
}  // namespace skiff::controller
