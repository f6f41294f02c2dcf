#include "core/clock.h"

#include <gtest/gtest.h>

namespace lipsync {
namespace {

using std::chrono::microseconds;

TEST(Clock, MeasuresFractionalMilliseconds) {
  const SteadyClock::time_point t0{};
  EXPECT_DOUBLE_EQ(ms_between(t0, t0 + microseconds(1500)), 1.5);
  EXPECT_DOUBLE_EQ(ms_between(t0 + microseconds(250), t0), -0.25);
}

TEST(Clock, SinceIsMeasuredOnTheSteadyClock) {
  const auto start = SteadyClock::now() - microseconds(2000);
  const double ms = ms_since(start);
  const double seconds = seconds_since(start);
  EXPECT_GE(ms, 2.0);
  EXPECT_GE(seconds, 0.002);
  EXPECT_LE(seconds * 1000.0, ms_since(start));  // later reads are never smaller
}

}  // namespace
}  // namespace lipsync
