// The device executor's scheduling rules on fake devices (no model, no sleeps): deadline order
// across requests and models, merged batches, bucketed batch shapes, the shared audio encoder
// batched across callers, cancellation, bounded queues, one device thread per executor and
// executors of different devices progressing independently.
#include "pipeline/device_executor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <set>

#include "fake_device.h"

namespace lipsync::pipeline {
namespace {

using namespace std::chrono_literals;
using testing::DeviceLog;
using testing::FakeEncoder;
using testing::FakeRunner;
using testing::Gate;

UnetWork work(const std::string& model, const std::shared_ptr<FakeRunner>& runner,
              std::vector<std::int64_t> frames, std::vector<TimePoint> deadlines = {}) {
  UnetWork w{.model_id = model, .runner = runner};
  w.request.model_id = model;
  w.request.source_frames = std::move(frames);
  w.request.audio.assign(w.request.source_frames.size() * audio::kFrameTensorSize, 0.5f);
  if (deadlines.empty()) deadlines.assign(w.request.source_frames.size(), ExecutorClock::now());
  w.request.deadlines = std::move(deadlines);
  return w;
}

std::vector<float> windows_starting_at(float first, std::size_t count) {
  std::vector<float> windows(count * audio::kWindowSize, 0.0f);
  for (std::size_t k = 0; k < count; ++k) windows[k * audio::kWindowSize] = first + float(k);
  return windows;
}

bool ready_now(auto& future) {
  return future.wait_for(0s) == std::future_status::ready;
}

// Holds an executor's device: one batch of `blocker` runs (held at `gate`) and a second one is
// prepared and waits for the device, so that nothing else forms a batch until the gate opens
// (prepare_ahead 1). Then every later submit is queued when the scheduling decision is made.
class HeldDevice {
 public:
  HeldDevice(DeviceExecutor& executor, DeviceLog& log)
      : log_(log), blocker_(std::make_shared<FakeRunner>("blocker", log, &gate_)) {
    first_ = executor.submit(work("blocker", blocker_, {0}));
    EXPECT_TRUE(gate_.wait_arrived(1));
    second_ = executor.submit(work("blocker", blocker_, {1}));
    EXPECT_TRUE(wait_prepared(2));
  }
  void release() {
    gate_.open();
    EXPECT_TRUE(first_.get().ok());
    EXPECT_TRUE(second_.get().ok());
  }

 private:
  bool wait_prepared(std::size_t count) {
    const auto deadline = ExecutorClock::now() + 30s;
    while (ExecutorClock::now() < deadline) {
      std::size_t prepared = 0;
      for (const auto& e : log_.of("prepare")) prepared += e.runner == "blocker";
      if (prepared >= count) return true;
      std::this_thread::yield();
    }
    return false;
  }

  DeviceLog& log_;
  Gate gate_;
  std::shared_ptr<FakeRunner> blocker_;
  std::future<Result<RenderResult>> first_;
  std::future<Result<RenderResult>> second_;
};

std::vector<std::vector<std::int64_t>> executed(DeviceLog& log, const std::string& runner) {
  std::vector<std::vector<std::int64_t>> batches;
  for (const auto& e : log.of("execute")) {
    if (runner.empty() || e.runner == runner) batches.push_back(e.frames);
  }
  return batches;
}

ExecutorOptions options(int max_batch, std::vector<int> sizes = {}) {
  return {.max_batch = max_batch, .batch_sizes = std::move(sizes), .max_queue_delay = 0ms};
}

TEST(DeviceExecutor, RunsEarliestDeadlineFirstAcrossRequestsAndModels) {
  DeviceLog log;
  auto a = std::make_shared<FakeRunner>("a", log);
  auto b = std::make_shared<FakeRunner>("b", log);
  DeviceExecutor executor("fake", options(2), nullptr, nullptr);
  HeldDevice held(executor, log);
  const TimePoint t = ExecutorClock::now();
  // Frames are named by their deadline in ms.
  auto a1 = executor.submit(work("a", a, {100, 10}, {t + 100ms, t + 10ms}));
  auto b1 = executor.submit(work("b", b, {50, 20}, {t + 50ms, t + 20ms}));
  auto a2 = executor.submit(work("a", a, {30}, {t + 30ms}));
  held.release();
  for (auto* f : {&a1, &b1, &a2}) ASSERT_TRUE(f->get().ok());
  const auto order = executed(log, "");
  ASSERT_EQ(order.size(), 5u);  // two blockers, then the three batches below
  // a's earliest frame (10) is due first: a's two earliest frames, from both requests, form a
  // batch; then b's (20 < a's 100); then a's last.
  EXPECT_EQ(order[2], (std::vector<std::int64_t>{10, 30}));
  EXPECT_EQ(order[3], (std::vector<std::int64_t>{20, 50}));
  EXPECT_EQ(order[4], (std::vector<std::int64_t>{100}));
}

TEST(DeviceExecutor, MergesConcurrentRequestsOfAModelIntoOneBatch) {
  DeviceLog log;
  auto a = std::make_shared<FakeRunner>("a", log);
  // A long queue delay: the batch forms only once it is full (4 requests x 2 frames).
  DeviceExecutor executor("fake", {.max_batch = 8, .max_queue_delay = 1h}, nullptr, nullptr);
  std::vector<std::future<Result<RenderResult>>> futures;
  for (int i = 0; i < 4; ++i) futures.push_back(executor.submit(work("a", a, {2 * i, 2 * i + 1})));
  for (int i = 0; i < 4; ++i) {
    auto result = futures[i].get();
    ASSERT_TRUE(result.ok()) << result.status().to_string();
    ASSERT_EQ(result->frames.size(), 2u);
    EXPECT_EQ(result->frames[0].pixels[0], 2 * i);  // each request gets its own frames back
    EXPECT_EQ(result->frames[1].pixels[0], 2 * i + 1);
    EXPECT_EQ(result->batch_frames, 8);
  }
  const ExecutorStats stats = executor.stats();
  EXPECT_EQ(stats.batches, 1);
  EXPECT_EQ(stats.largest_batch_requests, 4);
  EXPECT_EQ(stats.requests, 4);
}

TEST(DeviceExecutor, FramesThatPasteDifferentlyNeverShareABatch) {
  DeviceLog log;
  auto a = std::make_shared<FakeRunner>("a", log);
  DeviceExecutor executor("fake", options(4), nullptr, nullptr);
  HeldDevice held(executor, log);
  UnetWork feathered = work("a", a, {2, 3});
  feathered.request.composite.feather_px = 4;
  auto hard = executor.submit(work("a", a, {0, 1}));
  auto soft = executor.submit(std::move(feathered));
  held.release();
  ASSERT_TRUE(hard.get().ok() && soft.get().ok());
  // Four frames of one model fit one batch of 4; pasted differently they run as two.
  auto batches = executed(log, "a");
  std::sort(batches.begin(), batches.end());
  EXPECT_EQ(batches, (std::vector<std::vector<std::int64_t>>{{0, 1}, {2, 3}}));
}

TEST(DeviceExecutor, RunsABatchAtTheSmallestWarmedSizeThatHoldsIt) {
  DeviceLog log;
  auto a = std::make_shared<FakeRunner>("a", log);
  DeviceExecutor executor("fake", options(8, {1, 2, 4, 8}), nullptr, nullptr);
  auto three = executor.submit(work("a", a, {5, 6, 7})).get();
  ASSERT_TRUE(three.ok());
  EXPECT_EQ(three->frames.size(), 3u);  // the padded slot's output is dropped
  auto prepared = log.of("prepare");
  ASSERT_EQ(prepared.size(), 1u);
  EXPECT_EQ(prepared[0].slots, 4);  // a batch of 3 runs as 4, not as 8
  EXPECT_EQ(executor.batch_size_for(5), 8);
  EXPECT_EQ(executor.batch_size_for(1), 1);
  const ExecutorStats stats = executor.stats();
  EXPECT_EQ(stats.padded_slots, 1);
  EXPECT_EQ(stats.batches_by_size.at(4), 1);
}

TEST(DeviceExecutor, BatchSizesAreNormalisedToMaxBatch) {
  EXPECT_EQ(normalised_batch_sizes({.max_batch = 25, .batch_sizes = {32, 1, 4, 2, 8, 16, 4}}),
            (std::vector<int>{1, 2, 4, 8, 16, 25}));
  EXPECT_EQ(normalised_batch_sizes({.max_batch = 3}), (std::vector<int>{1, 2, 3}));
}

TEST(DeviceExecutor, SplitsARequestLargerThanMaxBatch) {
  DeviceLog log;
  auto a = std::make_shared<FakeRunner>("a", log);
  DeviceExecutor executor("fake", options(4), nullptr, nullptr);
  auto result = executor.submit(work("a", a, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9})).get();
  ASSERT_TRUE(result.ok());
  ASSERT_EQ(result->frames.size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(result->frames[i].pixels[0], i);
  EXPECT_EQ(executed(log, "a").size(), 3u);
  EXPECT_EQ(result->batch_frames, 4);
}

TEST(DeviceExecutor, CancellingFreesQueuedWorkAtOnce) {
  DeviceLog log;
  auto a = std::make_shared<FakeRunner>("a", log);
  DeviceExecutor executor("fake", options(4), nullptr, nullptr);
  HeldDevice held(executor, log);
  auto flag = std::make_shared<CancelFlag>();
  UnetWork cancelled = work("a", a, {40, 41, 42, 43, 44});
  cancelled.request.cancel = flag;
  auto doomed = executor.submit(std::move(cancelled));
  auto kept = executor.submit(work("a", a, {7}));
  EXPECT_FALSE(ready_now(doomed));
  executor.cancel(flag);
  ASSERT_TRUE(ready_now(doomed));  // answered at once, while the device is still held
  EXPECT_EQ(doomed.get().status().code(), ErrorCode::kCancelled);
  held.release();
  ASSERT_TRUE(kept.get().ok());
  for (const auto& batch : executed(log, "a")) {
    EXPECT_EQ(batch, std::vector<std::int64_t>{7});  // the cancelled frames never ran
  }
  EXPECT_EQ(executor.stats().cancelled, 5);
  // A flag set before submit refuses the work.
  UnetWork late = work("a", a, {1});
  late.request.cancel = flag;
  EXPECT_EQ(executor.submit(std::move(late)).get().status().code(), ErrorCode::kCancelled);
}

TEST(DeviceExecutor, AFullQueueRefusesAtOnce) {
  DeviceLog log;
  auto a = std::make_shared<FakeRunner>("a", log);
  ExecutorOptions bounded = options(4);
  bounded.max_queued_frames = 4;
  DeviceExecutor executor("fake", bounded, nullptr, nullptr);
  HeldDevice held(executor, log);
  auto fits = executor.submit(work("a", a, {0, 1, 2}));
  auto refused = executor.submit(work("a", a, {3, 4}));
  ASSERT_TRUE(ready_now(refused));
  EXPECT_EQ(refused.get().status().code(), ErrorCode::kResourceExhausted);
  EXPECT_EQ(executor.stats().rejected, 1);
  held.release();
  EXPECT_TRUE(fits.get().ok());
  EXPECT_TRUE(executor.submit(work("a", a, {3, 4})).get().ok());  // room again
}

TEST(DeviceExecutor, BadRequestsAndFailedBatchesFailAlone) {
  DeviceLog log;
  auto a = std::make_shared<FakeRunner>("a", log, nullptr, 10);
  a->fail_prepare_at_frame = 9;
  DeviceExecutor executor("fake", options(1), nullptr, nullptr);
  EXPECT_EQ(executor.submit(work("a", a, {10})).get().status().code(),
            ErrorCode::kInvalidArgument);  // outside the avatar
  UnetWork images = work("a", a, {0});
  images.request.image_tensors.assign(5, 0.0f);
  EXPECT_EQ(executor.submit(std::move(images)).get().status().code(), ErrorCode::kInvalidArgument);
  auto failed = executor.submit(work("a", a, {9}));
  auto fine = executor.submit(work("a", a, {3}));
  EXPECT_EQ(failed.get().status().code(), ErrorCode::kInternal);
  EXPECT_TRUE(fine.get().ok());
}

TEST(DeviceExecutor, BatchesTheEncoderAcrossCallers) {
  DeviceLog log;
  Gate gate;
  FakeEncoder encoder(log, &gate);
  DeviceExecutor executor("fake", options(4), nullptr, &encoder);
  // The first call's run is held; eight "sessions" queue their windows meanwhile.
  auto first = executor.encode(windows_starting_at(1000, 1), 1, ExecutorClock::now());
  ASSERT_TRUE(gate.wait_arrived(1));
  std::vector<std::future<Result<std::vector<float>>>> sessions;
  for (int s = 0; s < 8; ++s)
    sessions.push_back(executor.encode(windows_starting_at(10.0f * s, 2), 2, ExecutorClock::now()));
  gate.open();
  ASSERT_TRUE(first.get().ok());
  for (int s = 0; s < 8; ++s) {
    auto features = sessions[s].get();
    ASSERT_TRUE(features.ok());
    ASSERT_EQ(features->size(), 2 * audio::kFeatureSize);
    EXPECT_EQ((*features)[0], 10.0f * s + 1);  // each caller gets its own windows' features
    EXPECT_EQ((*features)[audio::kFeatureSize], 10.0f * s + 2);
  }
  const ExecutorStats stats = executor.stats();
  EXPECT_EQ(stats.encoder_runs, 2);  // the held one, then all eight sessions in one run
  EXPECT_EQ(stats.largest_encoder_run, 16u);
  EXPECT_EQ(stats.largest_encoder_run_requests, 8);
}

TEST(DeviceExecutor, ChunksEncoderRunsToTheEncodersMaxBatch) {
  DeviceLog log;
  FakeEncoder encoder(log);
  ExecutorOptions chunked = options(4);
  chunked.encoder_max_batch = 128;
  DeviceExecutor executor("fake", chunked, nullptr, &encoder);
  auto features = executor.encode(windows_starting_at(0, 300), 300, ExecutorClock::now()).get();
  ASSERT_TRUE(features.ok());
  for (std::size_t k = 0; k < 300; ++k) EXPECT_EQ((*features)[k * audio::kFeatureSize], k + 1.0f);
  std::vector<int> runs;
  for (const auto& e : log.of("encode")) runs.push_back(e.slots);
  EXPECT_EQ(runs, (std::vector<int>{128, 128, 44}));
}

TEST(DeviceExecutor, EveryRunOfTheDeviceHappensOnItsOneThreadOneAtATime) {
  DeviceLog log;
  FakeEncoder encoder(log);
  auto a = std::make_shared<FakeRunner>("a", log);
  auto b = std::make_shared<FakeRunner>("b", log);
  ThreadPool pool(2);
  DeviceExecutor executor("fake", options(2, {1, 2}), &pool, &encoder);
  std::vector<std::future<Result<RenderResult>>> frames;
  std::vector<std::future<Result<std::vector<float>>>> features;
  std::vector<std::thread> clients;
  std::mutex mutex;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; i < 10; ++i) {
        auto f = executor.submit(work(c % 2 ? "a" : "b", c % 2 ? a : b, {i}));
        auto e = executor.encode(windows_starting_at(float(i), 1), 1, ExecutorClock::now());
        std::lock_guard lock(mutex);
        frames.push_back(std::move(f));
        features.push_back(std::move(e));
      }
    });
  }
  for (auto& client : clients) client.join();
  for (auto& f : frames) EXPECT_TRUE(f.get().ok());
  for (auto& e : features) EXPECT_TRUE(e.get().ok());
  std::thread::id task_thread;
  ASSERT_TRUE(executor
                  .run_on_device([&] {
                    task_thread = std::this_thread::get_id();
                    return Status();
                  })
                  .get()
                  .ok());
  std::set<std::thread::id> threads;
  for (const char* what : {"execute", "encode"}) {
    for (const auto& e : log.of(what)) threads.insert(e.thread);
  }
  EXPECT_EQ(threads.size(), 1u);             // encoder and every model's batches: one device thread
  EXPECT_EQ(*threads.begin(), task_thread);  // device tasks (warm-ups) run there too
  EXPECT_NE(task_thread, std::this_thread::get_id());
  EXPECT_EQ(log.most_running.load(), 1);  // never two runs at once
}

TEST(DeviceExecutor, ExecutorsOfDifferentDevicesProgressIndependently) {
  DeviceLog log0;
  DeviceLog log1;
  Gate gate0;
  auto on0 = std::make_shared<FakeRunner>("a", log0, &gate0);
  auto on1 = std::make_shared<FakeRunner>("b", log1);
  DeviceExecutor device0("fake:0", options(4), nullptr, nullptr);
  DeviceExecutor device1("fake:1", options(4), nullptr, nullptr);
  auto held = device0.submit(work("a", on0, {0, 1}));
  ASSERT_TRUE(gate0.wait_arrived(1));  // device 0 is in the middle of a run
  for (int i = 0; i < 5; ++i) {
    auto result = device1.submit(work("b", on1, {i, i + 1})).get();  // device 1 is not held
    ASSERT_TRUE(result.ok());
  }
  EXPECT_FALSE(ready_now(held));
  gate0.open();
  EXPECT_TRUE(held.get().ok());
}

// Many live sessions as a GPU server runs them (issue #14): the CUDA batch shapes, max batch 25,
// a 5 ms queue delay and a pool; each session alternates its audio (two windows through the
// shared encoder) and its frame (due one frame period later), 50 times. Every session finishes,
// frames from several sessions share batches, and the encoder runs are shared too.
TEST(DeviceExecutor, ManyLiveSessionsOnCudaShapesAllFinishAndShareBatches) {
  DeviceLog log;
  FakeEncoder encoder(log);
  auto unet = std::make_shared<FakeRunner>("m0", log);
  ThreadPool pool(4);
  ExecutorOptions cuda_like{.max_batch = 25,
                            .batch_sizes = {1, 2, 4, 8, 16, 25, 32},
                            .max_queue_delay = 5ms};
  DeviceExecutor executor("fake-cuda", cuda_like, &pool, &encoder);
  constexpr int kSessions = 56;
  constexpr int kSteps = 50;
  std::atomic<int> finished{0};
  std::vector<std::thread> sessions;
  for (int s = 0; s < kSessions; ++s) {
    sessions.emplace_back([&, s] {
      for (int i = 0; i < kSteps; ++i) {
        auto features =
            executor.encode(windows_starting_at(float(s), 2), 2, ExecutorClock::now()).get();
        if (!features.ok()) return;
        const TimePoint due = ExecutorClock::now() + 40ms;
        if (!executor.submit(work("m0", unet, {i}, {due})).get().ok()) return;
      }
      ++finished;
    });
  }
  for (auto& session : sessions) session.join();
  EXPECT_EQ(finished.load(), kSessions);
  const ExecutorStats stats = executor.stats();
  EXPECT_EQ(stats.frames, kSessions * kSteps);
  EXPECT_GT(stats.largest_batch_requests, 1);
  EXPECT_GT(stats.largest_encoder_run_requests, 1);
}

TEST(DeviceExecutor, RunsQueuedWorkBeforeStopping) {
  DeviceLog log;
  auto a = std::make_shared<FakeRunner>("a", log);
  std::future<Result<RenderResult>> pending;
  {
    // Only a full batch would form by the delay; stopping forms the rest.
    DeviceExecutor executor("fake", {.max_batch = 8, .max_queue_delay = 1h}, nullptr, nullptr);
    pending = executor.submit(work("a", a, {1, 2}));
  }
  auto result = pending.get();
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->frames.size(), 2u);
}

}  // namespace
}  // namespace lipsync::pipeline
