// Internal to the device executor's implementation files (device_executor*.cpp): the state of
// submitted work, queued frames and batches, and the helpers its steps share.
#pragma once

#include <chrono>
#include <exception>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "core/log.h"
#include "pipeline/device_executor.h"

namespace lipsync::pipeline::detail {

inline double ms_between(TimePoint from, TimePoint to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

inline double ms_since_start(TimePoint start) {
  return ms_between(start, ExecutorClock::now());
}

// Runs a step; an exception becomes an INTERNAL error instead of unwinding through an
// executor thread.
template <typename Step>
auto guarded(const std::string& what, Step step) -> decltype(step()) {
  try {
    return step();
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kInternal, "{} failed: {}", what, e.what());
  }
}

// A step of the executor that took longer than this is logged: on a healthy device every step
// (an encoder run, a UNet batch, preparing or finishing one) takes milliseconds, so a step of
// seconds names where a stalled server spends its time.
inline constexpr double kSlowStepMs = 1000.0;

template <typename... Args>
void note_slow_step(const std::string& device, double ms, fmt::format_string<Args...> step,
                    Args&&... args) {
  if (ms < kSlowStepMs) return;
  LOG_WARN("pipeline", "executor '{}': {} took {:.0f} ms", device,
           fmt::format(step, std::forward<Args>(args)...), ms);
}

inline Status cancelled_status() {
  return make_error(ErrorCode::kCancelled, "cancelled before it ran");
}

}  // namespace lipsync::pipeline::detail

namespace lipsync::pipeline {

// One submitted UnetWork on its way: its frames' jobs, what has come back, and its promise.
struct DeviceExecutor::Work {
  UnetWork work;
  std::vector<FrameJob> jobs;  // spans into work.request
  std::promise<Result<RenderResult>> promise;
  RenderResult result;
  TimePoint submitted;
  std::size_t queued = 0;      // frames still queued
  std::size_t unfinished = 0;  // frames not delivered yet
  std::uint64_t last_batch = 0;
  bool started = false;
  bool answered = false;
};

struct DeviceExecutor::QueuedFrame {
  TimePoint deadline;
  std::uint64_t sequence = 0;  // submit order: ties of deadline run first come, first served
  TimePoint enqueued;
  std::shared_ptr<Work> work;
  std::size_t index = 0;  // within its work
};

inline bool DeviceExecutor::ByDeadline::operator()(const QueuedFrame& a,
                                                   const QueuedFrame& b) const {
  return std::tie(a.deadline, a.sequence) < std::tie(b.deadline, b.sequence);
}

inline bool DeviceExecutor::QueueKey::operator<(const QueueKey& other) const {
  // Every field of CompositeOptions takes part: a new one must be added here.
  static_assert(sizeof(imaging::CompositeOptions) == sizeof(int));
  return std::tie(runner, composite.feather_px) <
         std::tie(other.runner, other.composite.feather_px);
}

inline DeviceExecutor::QueueKey DeviceExecutor::queue_key_of(const UnetWork& work) {
  return {work.runner.get(), work.request.composite};
}

struct DeviceExecutor::ModelQueue {
  std::shared_ptr<ModelRunner> runner;
  std::string model_id;
  imaging::CompositeOptions composite;
  std::set<QueuedFrame, ByDeadline> frames;
  std::multiset<TimePoint> enqueued;  // when each queued frame arrived: the oldest sets the delay
  std::size_t works = 0;              // requests with frames queued here
};

// A UNet batch from forming to delivery.
struct DeviceExecutor::Batch {
  enum class State { kWaiting, kPreparing, kPrepared };
  std::uint64_t id = 0;
  std::shared_ptr<ModelRunner> runner;
  std::string model_id;
  imaging::CompositeOptions composite;
  std::vector<QueuedFrame> frames;
  std::vector<FrameJob> jobs;
  int slots = 0;
  int requests = 0;
  State state = State::kWaiting;
  std::unique_ptr<ModelRunner::Batch> prepared;
  Status status;  // of prepare or execute
  BatchTimings timings;
};

struct DeviceExecutor::EncodeWork {
  std::vector<float> windows;
  std::size_t count = 0;
  std::size_t taken = 0;  // windows handed to encoder runs
  std::size_t done = 0;   // windows encoded
  std::vector<float> features;
  TimePoint deadline;
  std::uint64_t sequence = 0;
  std::shared_ptr<CancelFlag> cancel;
  std::promise<Result<std::vector<float>>> promise;
  bool answered = false;
};

inline bool DeviceExecutor::EncodeOrder::operator()(const std::shared_ptr<EncodeWork>& a,
                                                    const std::shared_ptr<EncodeWork>& b) const {
  return std::tie(a->deadline, a->sequence) < std::tie(b->deadline, b->sequence);
}

}  // namespace lipsync::pipeline
