// One conformance suite for every Store backend: each backend registers a factory below.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "store/etcd/etcd_store.h"
#include "store/sqlite/sqlite_store.h"
#include "store/encrypting_store.h"
#include "store/store.h"
#include "etcd_cluster.h"

namespace skiff::store {
namespace fs = std::filesystem;

struct Backend {
  const char* name;
  // Opens a store over `dir`; calling it again on the same dir must see the same data.
  std::function<Result<std::unique_ptr<Store>>(const std::string& dir)> open;
  std::function<bool()> available = [] { return true; };
};

// One etcd for the process, started on first use: each test keeps its keys under a prefix of its
// own (its dir's name). Stopped when the tests end.
testing::EtcdCluster* sharedEtcd() {
  static std::unique_ptr<testing::EtcdCluster> cluster;
  static bool started = false;
  struct Stopper : ::testing::Environment {
    void TearDown() override { cluster.reset(); }
  };
  if (!cluster) {
    cluster = std::make_unique<testing::EtcdCluster>(1);
    started = cluster->start();
    ::testing::AddGlobalTestEnvironment(new Stopper);
  }
  return started ? cluster.get() : nullptr;
}

std::vector<Backend> backends() {
  return {{"sqlite", [](const std::string& dir) { return openSqliteStore({dir + "/store.db", 1000, 1024}); }},
          // Encryption at rest over SQLite, every key covered: the wrapper keeps the model.
          {"encrypted",
           [](const std::string& dir) -> Result<std::unique_ptr<Store>> {
             auto inner = openSqliteStore({dir + "/store.db", 1000, 1024});
             if (!inner) return inner.error();
             EncryptionProvider gcm{EncryptionProvider::Kind::AesGcm, {{"k1", std::string(32, 'k')}}};
             return std::unique_ptr<Store>(std::make_unique<EncryptingStore>(std::move(*inner), std::vector<EncryptionRule>{{{""}, {gcm}}}));
           }},
          {"etcd",
           [](const std::string& dir) -> Result<std::unique_ptr<Store>> {
             auto* etcd = sharedEtcd();
             if (!etcd) return Error::unavailable("the test etcd did not start");
             std::string prefix = dir;
             std::replace(prefix.begin(), prefix.end(), '/', '_');
             return openEtcdStore(etcd->options("/" + prefix));
           },
           [] { return testing::EtcdCluster::available(); }}};
}

class StoreConformance : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (!GetParam().available()) GTEST_SKIP() << GetParam().name << " is not installed";
    dir_ = fs::temp_directory_path() / ("skiff-store-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    reopen();
  }
  void TearDown() override {
    store_.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  std::string dirString() { return dir_.string(); }
  void reopen() {
    store_.reset();
    auto s = GetParam().open(dir_.string());
    ASSERT_TRUE(s.ok()) << s.error().message;
    store_ = std::move(*s);
  }
  static ValueBuilder value(std::string v) {
    return [v](int64_t) { return v; };
  }
  fs::path dir_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreConformance, CreateGetAndDuplicate) {
  auto a = store_->create("/a", value("1"));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->createRevision, a->modRevision);
  EXPECT_EQ(store_->revision(), a->modRevision);
  auto got = store_->get("/a");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got->value, "1");
  auto dup = store_->create("/a", value("2"));
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().reason, "AlreadyExists");
  EXPECT_EQ(store_->get("/missing").error().reason, "NotFound");
}

TEST_P(StoreConformance, BuilderSeesTheRevisionTheWriteGets) {
  int64_t seen = 0;
  auto r = store_->create("/k", [&](int64_t rev) {
    seen = rev;
    return "rev=" + std::to_string(rev);
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(seen, r->modRevision);
  EXPECT_EQ(*r->value, "rev=" + std::to_string(seen));
}

TEST_P(StoreConformance, OptimisticConcurrency) {
  auto a = store_->create("/a", value("1"));
  auto b = store_->update("/a", a->modRevision, value("2"));
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->createRevision, a->createRevision);
  EXPECT_GT(b->modRevision, a->modRevision);
  auto stale = store_->update("/a", a->modRevision, value("3"));
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().reason, "Conflict");
  EXPECT_TRUE(store_->update("/a", 0, value("4")).ok());
  EXPECT_EQ(store_->update("/nope", 0, value("x")).error().reason, "NotFound");
  EXPECT_EQ(store_->remove("/a", 1).error().reason, "Conflict");
  auto removed = store_->remove("/a", 0);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed->value, "4");
  EXPECT_EQ(removed->modRevision, store_->revision());
  EXPECT_EQ(store_->remove("/a", 0).error().reason, "NotFound");
}

TEST_P(StoreConformance, RangeByPrefixWithPagination) {
  for (const char* k : {"/p/b", "/p/a", "/p/c", "/q/a", "/pa"}) ASSERT_TRUE(store_->create(k, value(k)).ok());
  auto all = *store_->range("/p/", "", 0);
  ASSERT_EQ(all.items.size(), 3u);
  EXPECT_EQ(all.items[0].key, "/p/a");
  EXPECT_FALSE(all.more);
  auto page = *store_->range("/p/", "", 2);
  EXPECT_EQ(page.items.size(), 2u);
  EXPECT_TRUE(page.more);
  auto next = *store_->range("/p/", page.items.back().key, 2);
  ASSERT_EQ(next.items.size(), 1u);
  EXPECT_EQ(next.items[0].key, "/p/c");
  EXPECT_FALSE(next.more);
  EXPECT_EQ(*store_->count("/p/"), 3u);
  EXPECT_EQ(*store_->count("/"), 5u);
}

TEST_P(StoreConformance, WatchReplaysFromARevisionThenFollows) {
  auto a = store_->create("/w/a", value("1"));
  ASSERT_TRUE(store_->create("/other", value("x")).ok());
  ASSERT_TRUE(store_->update("/w/a", 0, value("2")).ok());
  std::mutex m;
  std::condition_variable cv;
  std::vector<Event> events;
  auto w = store_->watch("/w/", a->modRevision - 1, [&](const Event& e) {
    std::lock_guard lock(m);
    events.push_back(e);
    cv.notify_all();
  });
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(store_->remove("/w/a", 0).ok());
  ASSERT_TRUE(store_->create("/w/b", value("3")).ok());
  std::unique_lock lock(m);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(5), [&] { return events.size() >= 4; }));
  ASSERT_EQ(events.size(), 4u);
  EXPECT_TRUE(events[0].created);
  EXPECT_EQ(events[1].type, EventType::Put);
  EXPECT_FALSE(events[1].created);
  EXPECT_EQ(*events[1].previousValue, "1");
  EXPECT_EQ(events[2].type, EventType::Delete);
  EXPECT_EQ(*events[2].kv.value, "2");
  EXPECT_EQ(events[3].kv.key, "/w/b");
  for (size_t i = 1; i < events.size(); ++i) EXPECT_GT(events[i].revision, events[i - 1].revision);
  lock.unlock();
  w->reset();  // no delivery after the watch is gone
  ASSERT_TRUE(store_->create("/w/c", value("4")).ok());
  EXPECT_EQ(events.size(), 4u);
}

TEST_P(StoreConformance, CompactedRevisionsAreGone) {
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(store_->create("/c/" + std::to_string(i), value("v")).ok());
  int64_t rev = store_->revision();
  store_->compact(rev - 3);
  auto old = store_->watch("/c/", rev - 5, [](const Event&) {});
  ASSERT_FALSE(old.ok());
  EXPECT_EQ(old.error().code, 410);
  int count = 0;
  auto recent = store_->watch("/c/", rev - 3, [&](const Event&) { ++count; });
  ASSERT_TRUE(recent.ok());
  EXPECT_EQ(count, 3);
}

TEST_P(StoreConformance, DataAndRevisionSurviveReopen) {
  ASSERT_TRUE(store_->create("/d/a", value("1")).ok());
  ASSERT_TRUE(store_->create("/d/b", value("2")).ok());
  ASSERT_TRUE(store_->remove("/d/a", 0).ok());
  int64_t rev = store_->revision();
  reopen();
  EXPECT_EQ(store_->revision(), rev);
  EXPECT_FALSE(store_->get("/d/a").ok());
  EXPECT_EQ(*store_->get("/d/b")->value, "2");
  auto next = store_->create("/d/c", value("3"));
  EXPECT_EQ(next->modRevision, rev + 1);  // revisions never go backwards, even past deletions
}

TEST_P(StoreConformance, ParallelWritersGetUniqueRevisions) {
  constexpr int kThreads = 8, kEach = 150;
  std::vector<std::thread> threads;
  std::mutex m;
  std::set<int64_t> revisions;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto r = store_->create("/par/" + std::to_string(t) + "/" + std::to_string(i), value("x"));
        if (!r.ok()) { ++failures; continue; }
        std::lock_guard lock(m);
        revisions.insert(r->modRevision);
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(revisions.size(), size_t(kThreads * kEach));
  EXPECT_EQ(*store_->count("/par/"), size_t(kThreads * kEach));
}

TEST_P(StoreConformance, AFailingBuilderFailsOnlyItsWrite) {
  auto bad = store_->create("/f/bad", [](int64_t) -> std::string { throw std::runtime_error("boom"); });
  EXPECT_FALSE(bad.ok());
  EXPECT_FALSE(store_->get("/f/bad").ok());
  EXPECT_TRUE(store_->create("/f/good", value("1")).ok());
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreConformance, ::testing::ValuesIn(backends()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(SqliteStore, CorruptFileGivesAClearError) {
  fs::path dir = fs::temp_directory_path() / ("skiff-corrupt-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  {
    std::ofstream f(dir / "store.db");
    f << std::string(8192, 'x');
  }
  auto s = openSqliteStore({(dir / "store.db").string()});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find((dir / "store.db").string()), std::string::npos) << s.error().message;
  fs::remove_all(dir);
}

TEST(SqliteStore, MissingDirectoryGivesAClearError) {
  auto s = openSqliteStore({"/nonexistent-dir-for-skiff/store.db"});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("cannot open store"), std::string::npos);
}

}  // namespace skiff::store
