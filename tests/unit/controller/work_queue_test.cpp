#include "controller/work_queue.h"

#include <gtest/gtest.h>

#include <thread>

namespace skiff::controller {

TEST(WorkQueue, DeduplicatesWaitingKeys) {
  WorkQueue q;
  q.add("a");
  q.add("b");
  q.add("a");
  EXPECT_EQ(q.depth(), 2u);
  EXPECT_EQ(*q.get(), "a");
  EXPECT_EQ(*q.get(), "b");
}

TEST(WorkQueue, AKeyAddedWhileProcessingComesBackAfterDone) {
  WorkQueue q;
  q.add("a");
  auto k = q.get();
  q.add("a");  // an event arrives mid-reconcile
  EXPECT_EQ(q.depth(), 0u);  // not handed to a second worker
  q.done(*k);
  EXPECT_EQ(q.depth(), 1u);
  EXPECT_EQ(*q.get(), "a");
}

TEST(WorkQueue, RetryBacksOffAndForgetResets) {
  WorkQueue q;
  auto t0 = WorkQueue::Clock::now();
  for (int i = 0; i < 4; ++i) q.retry("k");  // 5, 10, 20, 40 ms: all for the same key
  auto k = q.get();
  EXPECT_EQ(*k, "k");
  EXPECT_GE(WorkQueue::Clock::now() - t0, std::chrono::milliseconds(5));
  q.done(*k);
  q.forget("k");
}

TEST(WorkQueue, ShutDownWakesWaiters) {
  WorkQueue q;
  std::thread t([&] { EXPECT_FALSE(q.get().has_value()); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  q.shutDown();
  t.join();
}

}  // namespace skiff::controller
