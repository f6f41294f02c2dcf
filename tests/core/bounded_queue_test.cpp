#include "core/bounded_queue.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace lipsync {
namespace {

TEST(BoundedQueue, RejectPolicyRefusesWhenFull) {
  BoundedQueue<int> q("t", 2, FullPolicy::kReject);
  EXPECT_EQ(q.push(1), PushResult::kAccepted);
  EXPECT_EQ(q.push(2), PushResult::kAccepted);
  EXPECT_EQ(q.push(3), PushResult::kRejected);
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.try_pop(), 1);
  EXPECT_EQ(q.push(4), PushResult::kAccepted);
  EXPECT_EQ(q.try_pop(), 2);
  EXPECT_EQ(q.try_pop(), 4);
  EXPECT_EQ(q.try_pop(), std::nullopt);
}

TEST(BoundedQueue, DropOldestPolicyKeepsNewest) {
  BoundedQueue<int> q("t", 2, FullPolicy::kDropOldest);
  q.push(1);
  q.push(2);
  std::optional<int> dropped;
  EXPECT_EQ(q.push(3, &dropped), PushResult::kDroppedOldest);
  EXPECT_EQ(dropped, 1);
  EXPECT_EQ(q.try_pop(), 2);
  EXPECT_EQ(q.try_pop(), 3);
}

TEST(BoundedQueue, CloseDrainsThenEnds) {
  BoundedQueue<int> q("t", 4, FullPolicy::kReject);
  q.push(7);
  q.close();
  EXPECT_EQ(q.push(8), PushResult::kClosed);
  EXPECT_EQ(q.pop(), 7);
  EXPECT_EQ(q.pop(), std::nullopt);
}

TEST(BoundedQueue, PopForTimesOutWhenEmpty) {
  BoundedQueue<int> q("t", 1, FullPolicy::kReject);
  EXPECT_EQ(q.pop_for(std::chrono::milliseconds(1)), std::nullopt);
}

TEST(BoundedQueue, BlockingPolicyDeliversEverythingInOrderPerProducer) {
  BoundedQueue<int> q("t", 3, FullPolicy::kBlock);
  constexpr int kPerProducer = 2000;
  std::vector<std::thread> producers;
  for (int p = 0; p < 2; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < kPerProducer; ++i) q.push(p * kPerProducer + i);
    });
  }
  std::vector<int> last(2, -1);
  for (int n = 0; n < 2 * kPerProducer; ++n) {
    int v = *q.pop();
    int p = v / kPerProducer;
    EXPECT_GT(v, last[p]);
    last[p] = v;
  }
  for (auto& t : producers) t.join();
  EXPECT_EQ(q.size(), 0u);
}

}  // namespace
}  // namespace lipsync
