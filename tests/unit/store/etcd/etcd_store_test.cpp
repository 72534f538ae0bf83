// The etcd store against real etcd: several servers' stores on one etcd, a member killed under
// writes, another client writing behind skiff's back, etcd out of reach, compaction by one server.
// (The behaviour every backend shares is in store_conformance_test.cpp.)
#include "store/etcd/etcd_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "../etcd_cluster.h"

namespace skiff::store {
namespace {

using testing::EtcdCluster;

ValueBuilder value(std::string v) {
  return [v](int64_t) { return v; };
}
// A value that names its revision, as the API server's resourceVersion does.
ValueBuilder revisioned() {
  return [](int64_t rev) { return std::to_string(rev); };
}

// Collects a watch's events; waits (bounded) for a count.
struct Collector {
  std::mutex m;
  std::condition_variable cv;
  std::vector<Event> events;
  WatchCallback callback() {
    return [this](const Event& e) {
      std::lock_guard lock(m);
      events.push_back(e);
      cv.notify_all();
    };
  }
  bool waitFor(size_t n) {
    std::unique_lock lock(m);
    return cv.wait_for(lock, std::chrono::seconds(20), [&] { return events.size() >= n; });
  }
  std::vector<Event> snapshot() {
    std::lock_guard lock(m);
    return events;
  }
};

class EtcdStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!EtcdCluster::available()) GTEST_SKIP() << "etcd is not installed";
  }
  std::unique_ptr<Store> open(const EtcdCluster& cluster, const std::string& prefix = "/skiff") {
    auto s = openEtcdStore(cluster.options(prefix));
    EXPECT_TRUE(s.ok()) << s.error().message;
    return s.ok() ? std::move(*s) : nullptr;
  }
};

TEST_F(EtcdStoreTest, ServersOnOneEtcdSeeEachOthersWritesAndWatches) {
  EtcdCluster etcd(1);
  ASSERT_TRUE(etcd.start());
  auto a = open(etcd), b = open(etcd);
  ASSERT_TRUE(a && b);
  Collector seenByB;
  auto w = b->watch("/k/", b->revision(), seenByB.callback());
  ASSERT_TRUE(w.ok());
  std::set<int64_t> revisions;
  // Writes alternate between the servers; each lands at the revision its value was built with.
  for (int i = 0; i < 20; ++i) {
    Store& writer = i % 2 ? *b : *a;
    auto r = writer.create("/k/" + std::to_string(i), revisioned());
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(*r->value, std::to_string(r->modRevision));
    revisions.insert(r->modRevision);
    Store& reader = i % 2 ? *a : *b;
    auto got = reader.get("/k/" + std::to_string(i));
    ASSERT_TRUE(got.ok()) << "a write through one server is read through the other";
    EXPECT_EQ(got->modRevision, r->modRevision);
  }
  EXPECT_EQ(revisions.size(), 20u);
  ASSERT_TRUE(seenByB.waitFor(20));
  auto events = seenByB.snapshot();
  ASSERT_EQ(events.size(), 20u);
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].kv.key, "/k/" + std::to_string(i));
    EXPECT_TRUE(events[i].created);
  }
  // Optimistic concurrency holds across servers.
  auto first = *a->get("/k/0");
  ASSERT_TRUE(b->update("/k/0", first.modRevision, value("from b")).ok());
  EXPECT_EQ(a->update("/k/0", first.modRevision, value("from a")).error().reason, "Conflict");
  // A server started later can resume a watch from before it started (a client failing over).
  auto c = open(etcd);
  ASSERT_TRUE(c);
  Collector resumed;
  auto w2 = c->watch("/k/", events[9].revision, resumed.callback());
  ASSERT_TRUE(w2.ok()) << w2.error().message;
  ASSERT_TRUE(resumed.waitFor(11));
  EXPECT_EQ(resumed.snapshot().front().kv.key, "/k/10");
}

TEST_F(EtcdStoreTest, AMemberKilledUnderWritesLosesNoAcknowledgedWriteAndWatchesGoOn) {
  EtcdCluster etcd(3);
  ASSERT_TRUE(etcd.start());
  auto store = open(etcd);
  ASSERT_TRUE(store);
  Collector watched;
  auto w = store->watch("/w/", store->revision(), watched.callback());
  ASSERT_TRUE(w.ok());
  constexpr int kWrites = 300;
  std::vector<std::string> acknowledged;
  std::atomic<int> done{0};
  std::thread writer([&] {
    for (int i = 0; i < kWrites; ++i) {
      auto r = store->create("/w/" + std::to_string(1000 + i), revisioned());
      if (r.ok()) acknowledged.push_back(r->key);
      ++done;
    }
  });
  while (done < 50) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  etcd.kill(0);  // the member the store talks to first
  writer.join();
  EXPECT_GT(acknowledged.size(), size_t(kWrites / 2)) << "writes went on with two members of three";
  auto listed = store->range("/w/", "", 0);
  ASSERT_TRUE(listed.ok()) << listed.error().message;
  std::set<std::string> stored;
  for (auto& kv : listed->items) {
    stored.insert(kv.key);
    EXPECT_EQ(*kv.value, std::to_string(kv.modRevision)) << kv.key;
  }
  for (const auto& key : acknowledged) EXPECT_TRUE(stored.count(key)) << key << " was acknowledged but is gone";
  // The watch saw every stored write once, in revision order, across the stream's reconnect.
  ASSERT_TRUE(watched.waitFor(stored.size()));
  auto events = watched.snapshot();
  EXPECT_EQ(events.size(), stored.size());
  std::set<std::string> seen;
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_TRUE(seen.insert(events[i].kv.key).second) << events[i].kv.key << " delivered twice";
    if (i) {
      EXPECT_GT(events[i].revision, events[i - 1].revision);
    }
  }
  EXPECT_EQ(seen, stored);
}

TEST_F(EtcdStoreTest, AForeignWriterIsNoticedAndTheValueRewrittenWithItsRealRevision) {
  EtcdCluster etcd(1);
  ASSERT_TRUE(etcd.start());
  auto store = open(etcd, "/skiff");
  // Another client of the same etcd: its writes move etcd's revision without skiff's sentinel.
  auto foreign = open(etcd, "/elsewhere");
  ASSERT_TRUE(store && foreign);
  ASSERT_TRUE(store->create("/a", revisioned()).ok());
  ASSERT_TRUE(foreign->create("/x", value("x")).ok());
  std::vector<int64_t> built;
  auto r = store->create("/b", [&](int64_t rev) {
    built.push_back(rev);
    return std::to_string(rev);
  });
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(built.size(), 2u) << "the first value named a revision the write did not get";
  EXPECT_EQ(*r->value, std::to_string(r->modRevision));
  auto got = store->get("/b");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got->value, std::to_string(got->modRevision));
  // From here on writes land where they expect again.
  auto next = store->create("/c", revisioned());
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(*next->value, std::to_string(next->modRevision));
}

TEST_F(EtcdStoreTest, UnreachableEtcdGivesAClearErrorAtStart) {
  EtcdOptions options;
  int port = testing::freeLoopbackPort();
  options.endpoints = {"127.0.0.1:" + std::to_string(port)};
  options.callTimeout = std::chrono::milliseconds(1000);
  auto s = openEtcdStore(options);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, 503);
  EXPECT_NE(s.error().message.find("cannot reach etcd at 127.0.0.1:" + std::to_string(port)), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find("is it running?"), std::string::npos) << s.error().message;
}

TEST_F(EtcdStoreTest, EtcdGoingAwayMidRunFailsReadsAndWritesWithAReason) {
  EtcdCluster etcd(1);
  ASSERT_TRUE(etcd.start());
  EtcdOptions options = etcd.options("/skiff");
  options.callTimeout = std::chrono::milliseconds(500);
  auto s = openEtcdStore(options);
  ASSERT_TRUE(s.ok()) << s.error().message;
  auto& store = **s;
  Collector watched;
  auto w = store.watch("/", store.revision(), watched.callback());
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(store.create("/a", value("1")).ok());
  etcd.kill(0);
  auto got = store.get("/a");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, 503) << "not a false NotFound";
  auto listed = store.range("/", "", 0);
  ASSERT_FALSE(listed.ok());
  EXPECT_EQ(listed.error().code, 503);
  auto written = store.create("/b", value("2"));
  ASSERT_FALSE(written.ok());
  EXPECT_EQ(written.error().code, 503);
  EXPECT_NE(written.error().message.find("etcd at 127.0.0.1:"), std::string::npos) << written.error().message;
  // etcd back (same data): the store goes on, and the watch resumes where it stopped.
  etcd.restart(0);
  ASSERT_TRUE(etcd.waitHealthy());
  Result<KeyValue> again = Error::unavailable("not tried");
  for (int i = 0; i < 50 && !again.ok(); ++i) again = store.create("/c", revisioned());
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(*again->value, std::to_string(again->modRevision));
  ASSERT_TRUE(watched.waitFor(2));
  auto events = watched.snapshot();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kv.key, "/a");
  EXPECT_EQ(events[1].kv.key, "/c");
}

TEST_F(EtcdStoreTest, OneServerCompactsEtcdPerInterval) {
  EtcdCluster etcd(1);
  ASSERT_TRUE(etcd.start());
  EtcdOptions options = etcd.options("/skiff");
  options.compactInterval = std::chrono::milliseconds(100);
  auto a = openEtcdStore(options), b = openEtcdStore(options);
  ASSERT_TRUE(a.ok() && b.ok());
  for (int i = 0; i < 20; ++i) ASSERT_TRUE((*a)->create("/c/" + std::to_string(i), value("v")).ok());
  // A store opened now starts its stream a history back (revision 1): once etcd is compacted,
  // etcd tells it where its history starts.
  int64_t compacted = 0;
  for (int i = 0; i < 200 && compacted == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto probe = openEtcdStore(etcd.options("/skiff"));
    ASSERT_TRUE(probe.ok());
    compacted = (*probe)->compactedRevision();
  }
  EXPECT_GT(compacted, 0) << "no server compacted etcd";
  EXPECT_LE(compacted, (*a)->revision());
}

TEST(EtcdUrl, ParsesEndpointsAndPrefix) {
  auto o = parseEtcdUrl("etcd://10.0.0.1:2379,10.0.0.2,[::1]:23790/cluster-a/");
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(o->endpoints, (std::vector<std::string>{"10.0.0.1:2379", "10.0.0.2:2379", "[::1]:23790"}));
  EXPECT_EQ(o->prefix, "/cluster-a");
  EXPECT_EQ(parseEtcdUrl("etcd://h:1")->prefix, "/skiff");
  for (const char* bad : {"http://h:2379", "etcd://", "etcd://h:99999", "etcd://h:x", "etcd://h:2379/", "etcd://:2379"}) {
    auto r = parseEtcdUrl(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.error().message.find("etcd://HOST:PORT"), std::string::npos) << r.error().message;
    }
  }
}

}  // namespace
}  // namespace skiff::store
