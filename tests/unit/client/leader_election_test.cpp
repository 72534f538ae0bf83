// Leader election on a real Registry: one leader at a time, a released lease moves at once, a
// holder that stopped renewing is waited out for the lease duration and no longer.
#include "client/leader_election.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <thread>

#include "api/object.h"
#include "apiserver/registry.h"
#include "client/local_client.h"
#include "store/sqlite/sqlite_store.h"

namespace skiff::client {
namespace {
namespace fs = std::filesystem;

class LeaderElectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("skiff-le-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    store_ = std::move(*store::openSqliteStore({(dir_ / "store.db").string(), 50, 1024}));
    registry_ = std::make_unique<apiserver::Registry>(*store_);
    ASSERT_TRUE(registry_->bootstrap().ok());
    client_ = std::make_unique<LocalClient>(*registry_);
  }
  void TearDown() override {
    client_.reset();
    registry_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }
  LeaderElectionConfig config(const std::string& id, std::atomic<int>* leaders = nullptr) {
    LeaderElectionConfig c;
    c.identity = id;
    c.leaseDuration = std::chrono::milliseconds(1000);
    c.renewDeadline = std::chrono::milliseconds(700);
    c.retryPeriod = std::chrono::milliseconds(50);
    if (leaders) {
      c.onStartedLeading = [leaders] { ++*leaders; };
      c.onStoppedLeading = [leaders] { --*leaders; };
    }
    return c;
  }
  template <class F>
  bool eventually(F f, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    auto until = std::chrono::steady_clock::now() + limit;
    while (!f() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return f();
  }
  fs::path dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<apiserver::Registry> registry_;
  std::unique_ptr<LocalClient> client_;
};

TEST_F(LeaderElectionTest, OneLeaderAtATimeAndAReleaseMovesAtOnce) {
  std::atomic<int> leaders{0};
  std::atomic<int> most{0};
  auto a = std::make_unique<LeaderElector>(*client_, config("a", &leaders));
  auto b = std::make_unique<LeaderElector>(*client_, config("b", &leaders));
  auto c = std::make_unique<LeaderElector>(*client_, config("c", &leaders));
  a->start();
  b->start();
  c->start();
  ASSERT_TRUE(eventually([&] { return leaders.load() == 1; }));
  for (int i = 0; i < 100; ++i) {  // 1 s of renewals: never a second leader
    most = std::max(most.load(), leaders.load());
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(most.load(), 1);
  LeaderElector* leader = a->leading() ? a.get() : b->leading() ? b.get() : c.get();
  ASSERT_TRUE(leader->leading());
  std::string first = leader->identity();
  leader->stop();  // releases the lease
  ASSERT_TRUE(eventually([&] {
    int n = int(a->leading()) + int(b->leading()) + int(c->leading());
    return n == 1;
  }));
  auto lease = client_->get(*api::findByKind("coordination.k8s.io/v1", "Lease"), "kube-system", "skiff-controller-manager");
  ASSERT_TRUE(lease.ok());
  EXPECT_NE(api::stringAt(*lease, "spec.holderIdentity"), first);
  EXPECT_GE(api::valueAt(*lease, "spec.leaseTransitions")->to_number<int64_t>(), 1);
  a->stop();
  b->stop();
  c->stop();
  EXPECT_EQ(leaders.load(), 0);
}

TEST_F(LeaderElectionTest, AHolderThatStoppedRenewingIsWaitedOutForTheLeaseDuration) {
  // A lease held by a process that died without releasing it.
  json::value lease = json::object{
      {"metadata", json::object{{"name", "skiff-controller-manager"}}},
      {"spec", json::object{{"holderIdentity", "dead"}, {"leaseDurationSeconds", 3}, {"renewTime", microTimeNow()}, {"leaseTransitions", 0}}}};
  ASSERT_TRUE(client_->create(*api::findByKind("coordination.k8s.io/v1", "Lease"), "kube-system", lease).ok());
  auto cfg = config("survivor");
  cfg.leaseDuration = std::chrono::milliseconds(3000);
  cfg.renewDeadline = std::chrono::milliseconds(2000);
  LeaderElector e(*client_, cfg);
  auto started = std::chrono::steady_clock::now();
  e.start();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_FALSE(e.leading()) << "took a lease whose holder was seen alive less than a lease duration ago";
  ASSERT_TRUE(eventually([&] { return e.leading(); }));
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(3000));
  e.stop();
}

TEST_F(LeaderElectionTest, ALeaderThatCannotRenewStepsDown) {
  std::atomic<int> leaders{0};
  LeaderElector e(*client_, config("solo", &leaders));
  e.start();
  ASSERT_TRUE(eventually([&] { return e.leading(); }));
  // Another writer takes the lease away (as after a partition): renewals now conflict.
  auto type = *api::findByKind("coordination.k8s.io/v1", "Lease");
  for (int i = 0; i < 50 && e.leading(); ++i) {
    (void)client_->patch(type, "kube-system", "skiff-controller-manager", PatchType::Merge,
                         json::parse(R"({"spec":{"holderIdentity":"usurper"}})"), "");
    std::this_thread::sleep_for(std::chrono::milliseconds(40));
  }
  EXPECT_TRUE(eventually([&] { return !e.leading(); }));
  EXPECT_EQ(leaders.load(), 0);
  e.stop();
}

}  // namespace
}  // namespace skiff::client
