// The scheduler merges concurrent requests of one model into one UNet batch, refuses at once
// when a model's queue is full, and keeps serving after errors.
#include "pipeline/scheduler.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>

#include "audio/audio_features.h"
#include "pipeline/lipsync_model.h"
#include "pipeline/onnx_feature_encoder.h"
#include "support/synthetic_avatar.h"
#include "support/test_paths.h"

namespace lipsync::pipeline {
namespace {

namespace fs = std::filesystem;

constexpr int kFrames = 6;

// A loader that blocks each load until release() (to keep a model loading deterministically).
class GateLoader {
 public:
  registry::Loader loader() {
    auto inner = lipsync_model_loader({.session = {.intra_op_threads = 1}});
    return
        [this, inner](const ModelConfig& config) -> Result<std::shared_ptr<registry::LoadedModel>> {
          entered_.set_value();
          gate_.wait();
          return inner(config);
        };
  }
  void wait_entered() { entered_future_.wait(); }
  void release() { release_.set_value(); }

 private:
  std::promise<void> entered_;
  std::shared_future<void> entered_future_ = entered_.get_future().share();
  std::promise<void> release_;
  std::shared_future<void> gate_ = release_.get_future().share();
};

RenderRequest request(const std::string& model, std::vector<std::int64_t> frames) {
  RenderRequest r{.model_id = model, .source_frames = std::move(frames)};
  r.audio.assign(r.source_frames.size() * audio::kFrameTensorSize, 0.25f);
  return r;
}

class SchedulerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(testing::temp_dir());
    testing::write_synthetic_avatar(*dir_, kFrames);
  }
  static void TearDownTestSuite() { delete dir_; }

  static Config config() { return testing::synthetic_config(*dir_, {"a", "b"}); }
  static inline fs::path* dir_ = nullptr;
};

TEST_F(SchedulerTest, ConcurrentRequestsOfOneModelShareABatch) {
  Config c = config();
  registry::ModelRegistry registry(c.capacity,
                                   lipsync_model_loader({.session = {.intra_op_threads = 1}}));
  ASSERT_TRUE(registry.add_models(c).ok());
  // A long delay: the batch closes only when it is full (4 requests x 2 frames = max_batch).
  Scheduler scheduler(
      registry, {.max_batch = 8, .max_queue_delay_ms = 60000, .max_queue_depth = 16}, nullptr);
  std::vector<std::future<Result<RenderResult>>> futures;
  for (int i = 0; i < 4; ++i) futures.push_back(scheduler.submit(request("a", {i, i + 1})));
  for (auto& future : futures) {
    auto result = future.get();
    ASSERT_TRUE(result.ok()) << result.status().to_string();
    EXPECT_EQ(result->frames.size(), 2u);
    EXPECT_EQ(result->batch_frames, 8);
    EXPECT_EQ(result->frames[0].width, testing::kAvatarWidth);
  }
  const SchedulerStats stats = scheduler.stats();
  EXPECT_EQ(stats.batches, 1);
  EXPECT_EQ(stats.largest_batch_frames, 8);
  EXPECT_EQ(stats.largest_batch_requests, 4);
  EXPECT_EQ(registry.info("a")->stats.requests, 4);
}

TEST_F(SchedulerTest, RequestsThatPasteDifferentlyDoNotShareABatch) {
  Config c = config();
  registry::ModelRegistry registry(c.capacity,
                                   lipsync_model_loader({.session = {.intra_op_threads = 1}}));
  ASSERT_TRUE(registry.add_models(c).ok());
  ASSERT_TRUE(registry.load("a").ok());
  // A long delay: a batch closes only when it is full. Interleaved, the hard-pasted and the
  // feathered requests fill a batch each, never one together.
  Scheduler scheduler(registry, {.max_batch = 4, .max_queue_delay_ms = 60000, .max_queue_depth = 8},
                      nullptr);
  auto feathered = [](std::vector<std::int64_t> frames) {
    RenderRequest r = request("a", std::move(frames));
    r.composite.feather_px = 4;
    return r;
  };
  auto hard = scheduler.submit(request("a", {0, 1}));
  auto soft = scheduler.submit(feathered({0, 1}));
  auto hard_too = scheduler.submit(request("a", {2, 3}));
  auto soft_too = scheduler.submit(feathered({2, 3}));
  auto hard_result = hard.get();
  auto soft_result = soft.get();
  ASSERT_TRUE(hard_result.ok() && soft_result.ok());
  EXPECT_EQ(hard_result->batch_frames, 4);
  EXPECT_EQ(soft_result->batch_frames, 4);
  EXPECT_EQ(hard_too.get()->batch_frames, 4);
  EXPECT_EQ(soft_too.get()->batch_frames, 4);
  EXPECT_EQ(scheduler.stats().batches, 2);
  EXPECT_EQ(scheduler.stats().largest_batch_requests, 2);
  // Same frames and audio: only the pasting differs.
  EXPECT_FALSE(hard_result->frames[0].pixels == soft_result->frames[0].pixels);
}

TEST_F(SchedulerTest, ConsecutiveBatchesOverlap) {
  Config c = config();
  registry::ModelRegistry registry(c.capacity,
                                   lipsync_model_loader({.session = {.intra_op_threads = 1}}));
  ASSERT_TRUE(registry.add_models(c).ok());
  // The first batch's delivery waits until later requests have left the queue: they can only
  // have done so if batches are prepared and run while an earlier one is being finished.
  std::atomic<bool> all_submitted = false;
  std::atomic<bool> overlapped = false;
  Scheduler* scheduler_ptr = nullptr;
  std::atomic<int> observed = 0;
  auto observer = [&](const std::string& model, int, int) {
    if (observed++ != 0) return;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      if (all_submitted && scheduler_ptr->queue_depth(model) <= 2) {
        overlapped = true;
        return;
      }
      std::this_thread::yield();
    }
  };
  Scheduler scheduler(registry, {.max_batch = 1, .max_queue_delay_ms = 0, .max_queue_depth = 8},
                      nullptr, observer);
  scheduler_ptr = &scheduler;
  std::vector<std::future<Result<RenderResult>>> futures;
  for (int i = 0; i < 6; ++i) futures.push_back(scheduler.submit(request("a", {i % kFrames})));
  all_submitted = true;
  for (auto& future : futures) EXPECT_TRUE(future.get().ok());
  EXPECT_TRUE(overlapped) << "three later requests were taken while the first was finishing";
  EXPECT_EQ(scheduler.stats().batches, 6);
}

TEST_F(SchedulerTest, FullQueueRefusesAtOnceAndRecovers) {
  Config c = config();
  GateLoader gate;
  registry::ModelRegistry registry(c.capacity, gate.loader());
  ASSERT_TRUE(registry.add_models(c).ok());
  Scheduler scheduler(registry, {.max_batch = 1, .max_queue_delay_ms = 0, .max_queue_depth = 1},
                      nullptr);
  auto first = scheduler.submit(request("a", {0}));
  gate.wait_entered();                                // the owner thread is busy loading
  auto second = scheduler.submit(request("a", {1}));  // fills the queue
  auto third = scheduler.submit(request("a", {2}));
  ASSERT_EQ(third.wait_for(std::chrono::seconds(0)), std::future_status::ready);
  auto refused = third.get();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kResourceExhausted);
  EXPECT_EQ(scheduler.stats().rejected, 1);
  gate.release();
  EXPECT_TRUE(first.get().ok());
  EXPECT_TRUE(second.get().ok());
  EXPECT_TRUE(scheduler.submit(request("a", {3})).get().ok());
}

TEST_F(SchedulerTest, BadRequestsFailAloneAndFramesWrap) {
  Config c = config();
  registry::ModelRegistry registry(c.capacity,
                                   lipsync_model_loader({.session = {.intra_op_threads = 1}}));
  ASSERT_TRUE(registry.add_models(c).ok());
  Scheduler scheduler(registry, {.max_batch = 8, .max_queue_delay_ms = 0, .max_queue_depth = 4},
                      nullptr);
  EXPECT_EQ(scheduler.submit(request("nope", {0})).get().status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(scheduler.submit(request("a", {})).get().status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(scheduler.submit(request("a", {kFrames})).get().status().code(),
            ErrorCode::kInvalidArgument);
  RenderRequest bad_images = request("a", {0});
  bad_images.image_tensors.assign(10, 0.0f);
  EXPECT_EQ(scheduler.submit(std::move(bad_images)).get().status().code(),
            ErrorCode::kInvalidArgument);

  RenderRequest wrapped = request("a", {-1, kFrames + 1});
  wrapped.wrap_source_frames = true;
  auto result = scheduler.submit(std::move(wrapped)).get();
  ASSERT_TRUE(result.ok()) << result.status().to_string();
  auto direct = scheduler.submit(request("a", {kFrames - 1, 1})).get();
  ASSERT_TRUE(direct.ok());
  EXPECT_EQ(result->frames[0].pixels, direct->frames[0].pixels);
  EXPECT_EQ(result->frames[1].pixels, direct->frames[1].pixels);
}

TEST_F(SchedulerTest, AModelLoadingDoesNotHoldUpOtherModels) {
  Config c = config();
  GateLoader gate;
  auto plain = lipsync_model_loader({.session = {.intra_op_threads = 1}});
  registry::ModelRegistry registry(c.capacity, plain);
  ASSERT_TRUE(registry.add_model(c.models["a"], gate.loader()).ok());
  ASSERT_TRUE(registry.add_model(c.models["b"]).ok());
  Scheduler scheduler(registry, {.max_batch = 4, .max_queue_delay_ms = 0, .max_queue_depth = 4},
                      nullptr);
  auto held = scheduler.submit(request("a", {0}));
  gate.wait_entered();
  // Model a's loader thread is blocked in its load; b is served regardless.
  EXPECT_TRUE(scheduler.submit(request("b", {0, 1})).get().ok());
  gate.release();
  EXPECT_TRUE(held.get().ok());
}

TEST_F(SchedulerTest, CancellingAnswersWaitingRequestsAtOnceAndTheirFramesNeverRun) {
  Config c = config();
  GateLoader gate;
  registry::ModelRegistry registry(c.capacity, gate.loader());
  ASSERT_TRUE(registry.add_models(c).ok());
  Scheduler scheduler(registry, {.max_batch = 8, .max_queue_delay_ms = 0, .max_queue_depth = 8},
                      nullptr);
  auto flag = std::make_shared<CancelFlag>();
  RenderRequest first = request("a", {0, 1, 2});
  first.cancel = flag;
  RenderRequest second = request("a", {3, 4});
  second.cancel = flag;
  auto doomed = scheduler.submit(std::move(first));  // starts the (held) load
  gate.wait_entered();
  auto doomed_too = scheduler.submit(std::move(second));  // waits for the load
  auto kept = scheduler.submit(request("a", {5}));
  scheduler.cancel(flag);
  // The waiting one is answered at once; the one the loader holds as soon as it is handed on.
  ASSERT_EQ(doomed_too.wait_for(std::chrono::seconds(0)), std::future_status::ready);
  EXPECT_EQ(doomed_too.get().status().code(), ErrorCode::kCancelled);
  gate.release();
  EXPECT_EQ(doomed.get().status().code(), ErrorCode::kCancelled);
  ASSERT_TRUE(kept.get().ok());
  EXPECT_EQ(scheduler.stats().frames, 1);  // only the kept frame ran
}

// A frame due soon (a live session's) runs before the queued frames of a long request that are
// due later, although it arrived after them: one model, one device, deadline order.
TEST_F(SchedulerTest, AnEarlierDeadlineOvertakesALongRequestsQueuedFrames) {
  Config c = config();
  registry::ModelRegistry registry(c.capacity,
                                   lipsync_model_loader({.session = {.intra_op_threads = 1}}));
  ASSERT_TRUE(registry.add_models(c).ok());
  ASSERT_TRUE(registry.load("a").ok());
  std::mutex mutex;
  std::vector<int> batch_frames;  // in the order the batches were delivered
  Scheduler scheduler(registry, {.max_batch = 2, .max_queue_delay_ms = 0, .max_queue_depth = 8},
                      nullptr, [&](const std::string&, int frames, int) {
                        std::lock_guard lock(mutex);
                        batch_frames.push_back(frames);
                      });
  // 40 frames by arrival order: the last is due 1.56 s after it arrived.
  std::vector<std::int64_t> frames;
  for (int i = 0; i < 40; ++i) frames.push_back(i % kFrames);
  auto clip = scheduler.submit(request("a", frames));
  RenderRequest live = request("a", {0});
  live.deadlines = {ExecutorClock::now()};
  auto live_result = scheduler.submit(std::move(live));
  ASSERT_TRUE(live_result.get().ok());
  const std::size_t delivered_before_live = [&] {
    std::lock_guard lock(mutex);
    return batch_frames.size();
  }();
  ASSERT_TRUE(clip.get().ok());
  // 20 batches of the clip plus one odd batch; the live frame did not wait for all of them.
  EXPECT_LT(delivered_before_live, 20u);
  const SchedulerStats stats = scheduler.stats();
  EXPECT_EQ(stats.frames, 41);
}

// A client that does not collect its frames (a slow reader) holds none of the device's steps:
// the executor hands results to futures, so another model's request completes meanwhile.
TEST_F(SchedulerTest, AnUncollectedResultBlocksNoOtherRequest) {
  Config c = config();
  registry::ModelRegistry registry(c.capacity,
                                   lipsync_model_loader({.session = {.intra_op_threads = 1}}));
  ASSERT_TRUE(registry.add_models(c).ok());
  Scheduler scheduler(registry, {.max_batch = 2, .max_queue_delay_ms = 0, .max_queue_depth = 16},
                      nullptr);
  std::vector<std::future<Result<RenderResult>>> never_read;
  for (int i = 0; i < 8; ++i) never_read.push_back(scheduler.submit(request("a", {i % kFrames})));
  for (int i = 0; i < 3; ++i) {
    auto other = scheduler.submit(request("b", {i, i + 1})).get();
    ASSERT_TRUE(other.ok()) << other.status().to_string();
  }
  for (auto& future : never_read) {  // all done although nobody read them
    EXPECT_EQ(future.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  }
}

// The audio encoder shared through the scheduler: concurrent callers (sessions, clips) that
// wait while the device is busy are served by ONE encoder run, each getting its own features.
TEST_F(SchedulerTest, ConcurrentEncoderCallersShareOneEncoderRun) {
  Config c = config();
  registry::ModelRegistry registry(c.capacity,
                                   lipsync_model_loader({.session = {.intra_op_threads = 1}}));
  ASSERT_TRUE(registry.add_models(c).ok());
  auto encoder = OnnxFeatureEncoder::create(testing::test_models_dir() / "encoder_tiny.onnx",
                                            {.intra_op_threads = 1});
  ASSERT_TRUE(encoder.ok()) << encoder.status().to_string();
  Scheduler scheduler(registry, {}, nullptr, {}, encoder->get());
  ASSERT_NE(scheduler.encoder(), nullptr);
  DeviceExecutor& device = *scheduler.executor(-1);
  // Hold the device thread so that every caller's windows are pending at the next step.
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  auto held = device.run_on_device([gate] {
    gate.wait();
    return Status();
  });
  constexpr int kCallers = 6;
  constexpr std::size_t kWindows = 3;
  std::vector<std::vector<float>> inputs(kCallers);
  std::vector<std::future<Result<std::vector<float>>>> answers;
  for (int i = 0; i < kCallers; ++i) {
    inputs[i].resize(kWindows * audio::kWindowSize);
    for (std::size_t k = 0; k < inputs[i].size(); ++k)
      inputs[i][k] = static_cast<float>((k * 7 + static_cast<std::size_t>(i) * 13) % 29) / 29.0f;
    answers.push_back(std::async(
        std::launch::async, [&, i] { return scheduler.encoder()->encode(inputs[i], kWindows); }));
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (device.queued_windows() < kCallers * kWindows &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::yield();
  ASSERT_EQ(device.queued_windows(), kCallers * kWindows);
  release.set_value();
  ASSERT_TRUE(held.get().ok());
  for (int i = 0; i < kCallers; ++i) {
    auto features = answers[i].get();
    ASSERT_TRUE(features.ok()) << features.status().to_string();
    auto alone = (*encoder)->encode(inputs[i], kWindows);  // the same windows, encoded alone
    ASSERT_TRUE(alone.ok());
    ASSERT_EQ(features->size(), alone->size());
    for (std::size_t k = 0; k < alone->size(); ++k)
      ASSERT_NEAR((*features)[k], (*alone)[k], 1e-5f) << "caller " << i << " value " << k;
  }
  const SchedulerStats stats = scheduler.stats();
  EXPECT_EQ(stats.encoder_runs, 1);
  EXPECT_EQ(stats.largest_encoder_run, kCallers * kWindows);
  EXPECT_EQ(stats.largest_encoder_run_requests, kCallers);
}

// pipeline.cuda_batch_sizes: the sizes a GPU's executor runs (max_batch always one of them);
// the CPU runs every size up to max_batch whatever it says.
TEST(ExecutorOptions, CudaBatchSizesComeFromTheConfiguration) {
  PipelineSection pipeline;
  pipeline.max_batch = 25;
  EXPECT_EQ(executor_options(pipeline, true).batch_sizes, (std::vector<int>{1, 2, 4, 8, 16, 25}));
  pipeline.cuda_batch_sizes = {1, 8, 32};
  EXPECT_EQ(executor_options(pipeline, true).batch_sizes, (std::vector<int>{1, 8, 25}));
  pipeline.max_batch = 4;
  EXPECT_EQ(executor_options(pipeline, false).batch_sizes, (std::vector<int>{1, 2, 3, 4}));
}

}  // namespace
}  // namespace lipsync::pipeline
