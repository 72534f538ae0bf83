// The etcd store's in-memory watch history, without etcd: replay then follow, 410 past the
// history, watches that start ahead of the stream, restart after a gap.
#include "store/etcd/event_history.h"

#include <gtest/gtest.h>

namespace skiff::store::etcd {
namespace {

Event put(int64_t revision, std::string key) {
  Event e;
  e.revision = revision;
  e.kv = KeyValue{std::move(key), revision, revision, std::make_shared<const std::string>("v")};
  return e;
}

TEST(EventHistory, ReplaysAfterARevisionThenFollows) {
  auto h = std::make_shared<EventHistory>(100, 0);
  h->append({put(1, "/a/1"), put(2, "/b/1"), put(3, "/a/2")}, 3);
  std::vector<int64_t> seen;
  auto w = h->watch("/a/", 1, [&](const Event& e) { seen.push_back(e.revision); });
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(seen, (std::vector<int64_t>{3}));
  h->append({put(4, "/a/3"), put(5, "/b/2")}, 6);
  EXPECT_EQ(seen, (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(h->progressRevision(), 6);
  w->reset();
  h->append({put(7, "/a/4")}, 7);
  EXPECT_EQ(seen.size(), 2u);
}

TEST(EventHistory, AWatchAheadOfTheStreamSkipsWhatItsListHeld) {
  auto h = std::make_shared<EventHistory>(100, 0);
  h->append({put(1, "/a/1")}, 1);
  std::vector<int64_t> seen;
  // A list read from etcd at revision 3 while the stream had delivered only 1.
  auto w = h->watch("/a/", 3, [&](const Event& e) { seen.push_back(e.revision); });
  ASSERT_TRUE(w.ok());
  h->append({put(2, "/a/2"), put(3, "/a/3"), put(4, "/a/4")}, 4);
  EXPECT_EQ(seen, (std::vector<int64_t>{4}));
}

TEST(EventHistory, OlderThanTheHistoryIsGone) {
  auto h = std::make_shared<EventHistory>(2, 10);
  EXPECT_EQ(h->watch("/", 9, [](const Event&) {}).error().code, 410);
  h->append({put(11, "/a"), put(12, "/b"), put(13, "/c")}, 13);
  EXPECT_EQ(h->compactedRevision(), 11);  // the limit pushed 11 out
  EXPECT_EQ(h->watch("/", 10, [](const Event&) {}).error().code, 410);
  int n = 0;
  ASSERT_TRUE(h->watch("/", 11, [&](const Event&) { ++n; }).ok());
  EXPECT_EQ(n, 2);
  h->compact(12);
  EXPECT_EQ(h->watch("/", 11, [](const Event&) {}).error().code, 410);
  // After a gap (etcd compacted what the stream had not seen) nothing before it can be replayed.
  h->restartAfter(20);
  EXPECT_EQ(h->watch("/", 19, [](const Event&) {}).error().code, 410);
  EXPECT_TRUE(h->waitForProgress(20, std::chrono::milliseconds(0)));
  EXPECT_FALSE(h->waitForProgress(21, std::chrono::milliseconds(0)));
}

}  // namespace
}  // namespace skiff::store::etcd
