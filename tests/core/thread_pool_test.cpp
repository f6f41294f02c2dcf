#include "core/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>

namespace lipsync {
namespace {

TEST(ThreadPool, SubmitReturnsResults) {
  ThreadPool pool(3);
  auto a = pool.submit([] { return 6 * 7; });
  auto b = pool.submit([] { return std::string("x"); });
  EXPECT_EQ(a.get(), 42);
  EXPECT_EQ(b.get(), "x");
}

TEST(ThreadPool, ParallelForVisitsEachIndexOnce) {
  ThreadPool pool(4);
  std::vector<std::atomic<int>> hits(1000);
  pool.parallel_for(hits.size(), [&](std::size_t i) { hits[i]++; });
  for (auto& h : hits) EXPECT_EQ(h.load(), 1);
}

TEST(ThreadPool, ParallelForRethrowsAfterFinishing) {
  ThreadPool pool(2);
  std::atomic<int> done{0};
  EXPECT_THROW(pool.parallel_for(100,
                                 [&](std::size_t i) {
                                   done++;
                                   if (i == 17) throw std::runtime_error("bad index");
                                 }),
               std::runtime_error);
  EXPECT_EQ(done.load(), 100);
}

TEST(ThreadPool, ExceptionReachesTheFuture) {
  ThreadPool pool(1);
  auto f = pool.submit([]() -> int { throw std::invalid_argument("no"); });
  EXPECT_THROW(f.get(), std::invalid_argument);
}

}  // namespace
}  // namespace lipsync
