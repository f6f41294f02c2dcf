// Elapsed-time measurement for stage timings and benchmarks: one monotonic clock and one way to
// read a span of it in (fractional) milliseconds.
#pragma once

#include <chrono>

namespace lipsync {

// Monotonic: timings never jump with the wall clock (gRPC deadlines use system_clock instead).
using SteadyClock = std::chrono::steady_clock;

// Milliseconds from `from` to `to`, fractional.
inline double ms_between(SteadyClock::time_point from, SteadyClock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

// Milliseconds from `start` until now, fractional.
inline double ms_since(SteadyClock::time_point start) {
  return ms_between(start, SteadyClock::now());
}

// Seconds from `start` until now, fractional.
inline double seconds_since(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

}  // namespace lipsync
