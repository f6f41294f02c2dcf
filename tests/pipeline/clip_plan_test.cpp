// The clip plan through the scheduler (render_clip, `lipsync render`'s path): frames equal one
// render_batch per batch of the clip's own sequenced frames and audio tensors (the batch loop
// `render` ran before it used the plan), feathering included; they arrive in order; a sink error
// stops the clip; too short audio and bad start frames are clear errors.
#include "pipeline/clip_plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "audio/audio_features.h"
#include "pipeline/batch_renderer.h"
#include "pipeline/batch_window.h"
#include "pipeline/lipsync_model.h"
#include "pipeline/onnx_feature_encoder.h"
#include "support/synthetic_avatar.h"
#include "support/test_paths.h"

namespace lipsync::pipeline {
namespace {

namespace fs = std::filesystem;
using imaging::SequenceMode;

constexpr int kFrames = 6;

// 1 s of a 220 Hz tone: 24 output frames, four times the avatar's.
std::vector<float> tone() {
  std::vector<float> samples(16000);
  for (std::size_t n = 0; n < samples.size(); ++n) samples[n] = 0.3f * std::sin(n * 0.0864f);
  return samples;
}

class ClipPlanTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(testing::temp_dir());
    testing::write_synthetic_avatar(*dir_, kFrames);
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }

  void SetUp() override {
    ASSERT_TRUE(registry_.add_models(testing::synthetic_config(*dir_, {"a"})).ok());
    auto mel = audio::MelAnalyzer::create();
    auto encoder = OnnxFeatureEncoder::create(testing::test_models_dir() / "encoder_tiny.onnx",
                                              {.intra_op_threads = 1});
    ASSERT_TRUE(mel.ok() && encoder.ok());
    mel_ = std::move(mel).value();
    encoder_ = std::move(encoder).value();
  }

  Result<ClipPlan> plan(ClipSpec spec, std::span<const float> samples) {
    return plan_clip(std::move(spec), samples, *mel_, *encoder_, registry_);
  }

  // The frames of `plan` as `render` made them before the plan: render_batch over each run of
  // max_batch frames, source frames from the sequence and audio from the clip's frame tensors.
  std::vector<Image> batch_by_batch(const ClipPlan& plan, int max_batch) {
    auto handle = registry_.acquire("a");
    EXPECT_TRUE(handle.ok());
    const auto& model = handle->get<LipSyncModel>();
    const auto avatar_frames = static_cast<std::int64_t>(model.avatar().frame_count());
    const std::vector<float> tensors = audio::clip_frame_tensors(plan.features);
    std::vector<Image> frames;
    for (std::int64_t first = 0; first < plan.frame_count(); first += max_batch) {
      std::vector<FrameJob> jobs;
      for (std::int64_t i = first; i < std::min(plan.frame_count(), first + max_batch); ++i) {
        jobs.push_back(
            {imaging::source_frame_index(plan.spec.sequence, i, avatar_frames,
                                         plan.spec.start_frame),
             std::span(tensors).subspan(static_cast<std::size_t>(i) * audio::kFrameTensorSize,
                                        audio::kFrameTensorSize)});
      }
      auto batch = render_batch(model, jobs, {plan.spec.composite, {}}, nullptr);
      EXPECT_TRUE(batch.ok()) << batch.status().to_string();
      for (Image& frame : batch->frames) frames.push_back(std::move(frame));
    }
    return frames;
  }

  static inline fs::path* dir_ = nullptr;
  registry::ModelRegistry registry_{{}, lipsync_model_loader({.session = {.intra_op_threads = 1}})};
  std::unique_ptr<audio::MelAnalyzer> mel_;
  std::unique_ptr<OnnxFeatureEncoder> encoder_;
};

TEST_F(ClipPlanTest, RenderClipEqualsOneRenderBatchPerBatch) {
  const auto samples = tone();
  const PipelineSection batching{.max_batch = 5, .max_queue_delay_ms = 0};
  Scheduler scheduler(registry_, batching, nullptr);
  const std::vector<ClipSpec> specs = {
      {.model_id = "a"},
      {.model_id = "a", .sequence = SequenceMode::kWrap, .start_frame = 4},
      {.model_id = "a", .sequence = SequenceMode::kWrap, .composite = {.feather_px = 3}},
  };
  for (const ClipSpec& spec : specs) {
    auto clip = plan(spec, samples);
    ASSERT_TRUE(clip.ok()) << clip.status().to_string();
    std::vector<Image> frames;
    auto stats = render_clip(scheduler, *clip, batching, [&](std::int64_t, const Image& frame) {
      frames.push_back(frame);
      return Status{};
    });
    ASSERT_TRUE(stats.ok()) << stats.status().to_string();
    EXPECT_EQ(stats->frames, 24);
    EXPECT_GT(stats->audio_ms, 0.0);
    EXPECT_GT(stats->first_batch_inference_ms, 0.0);
    EXPECT_GE(stats->totals.inference_ms, stats->first_batch_inference_ms);
    const std::vector<Image> expected = batch_by_batch(*clip, batching.max_batch);
    ASSERT_EQ(frames.size(), expected.size());
    for (std::size_t i = 0; i < frames.size(); ++i)
      EXPECT_TRUE(frames[i].pixels == expected[i].pixels) << "frame " << i;
  }
  // Feathering changed pixels: the scheduler composited with the spec's options.
  auto hard = plan({.model_id = "a", .sequence = SequenceMode::kWrap}, samples);
  auto soft = plan(specs[2], samples);
  ASSERT_TRUE(hard.ok() && soft.ok());
  EXPECT_FALSE(batch_by_batch(*hard, 5)[0].pixels == batch_by_batch(*soft, 5)[0].pixels);
}

TEST_F(ClipPlanTest, FramesArriveInOrderWithProgressAndSinkErrorsStop) {
  const auto samples = tone();
  const PipelineSection batching{.max_batch = 7, .max_queue_delay_ms = 0};
  Scheduler scheduler(registry_, batching, nullptr);
  auto clip = plan({.model_id = "a"}, samples);
  ASSERT_TRUE(clip.ok()) << clip.status().to_string();
  ASSERT_EQ(clip->frame_count(), clip_frame_count(samples.size()));
  std::vector<std::int64_t> seen;
  std::vector<std::int64_t> progress;
  auto stats = render_clip(
      scheduler, *clip, batching,
      [&](std::int64_t i, const Image&) {
        seen.push_back(i);
        return Status{};
      },
      [&](std::int64_t done, std::int64_t total) {
        EXPECT_EQ(total, clip->frame_count());
        progress.push_back(done);
      });
  ASSERT_TRUE(stats.ok()) << stats.status().to_string();
  ASSERT_EQ(static_cast<std::int64_t>(seen.size()), clip->frame_count());
  for (std::size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], static_cast<std::int64_t>(i));
  EXPECT_EQ(progress, (std::vector<std::int64_t>{7, 14, 21, 24}));

  auto stopped = render_clip(scheduler, *clip, batching, [](std::int64_t i, const Image&) {
    return i == 3 ? Status(ErrorCode::kInternal, "disk full") : Status{};
  });
  ASSERT_FALSE(stopped.ok());
  EXPECT_EQ(stopped.status().message(), "disk full");
}

TEST_F(ClipPlanTest, BadClipsAreClearErrors) {
  const std::vector<float> too_short(1000);
  auto short_clip = plan({.model_id = "a"}, too_short);
  EXPECT_EQ(short_clip.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(short_clip.status().message().find("at least"), std::string::npos);
  const auto samples = tone();
  EXPECT_EQ(plan({.model_id = "a", .start_frame = -1}, samples).status().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(plan({.model_id = "nobody"}, samples).status().code(), ErrorCode::kNotFound);
  auto jpeg = plan({.model_id = "a", .jpeg = media::JpegSettings{}}, samples);
  ASSERT_TRUE(jpeg.ok());
  Scheduler scheduler(registry_, {}, nullptr);
  EXPECT_EQ(render_clip(scheduler, *jpeg, {}, {}).status().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace lipsync::pipeline
