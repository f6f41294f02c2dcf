// The shared pipeline: one batched UNet run equals per-frame runs, client image tensors equal
// the avatar's own, and bad jobs are clear errors.
#include "pipeline/batch_renderer.h"

#include <gtest/gtest.h>

#include <random>

#include "audio/audio_features.h"
#include "media/jpeg_codec.h"
#include "pipeline/device_executor.h"
#include "support/synthetic_avatar.h"
#include "support/test_paths.h"

namespace lipsync::pipeline {
namespace {

class PipelineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::filesystem::path(testing::temp_dir());
    testing::write_synthetic_avatar(*dir_, 6);
    const Config config = testing::synthetic_config(*dir_, {"a"});
    auto model = LipSyncModel::load(config.models.at("a"), {});
    ASSERT_TRUE(model.ok()) << model.status().to_string();
    model_ = new std::shared_ptr<LipSyncModel>(std::move(model).value());
  }
  static void TearDownTestSuite() {
    delete model_;
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }

  static std::vector<float> random_audio(std::size_t frames, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(0.f, 4.f);
    std::vector<float> v(frames * audio::kFrameTensorSize);
    for (auto& x : v) x = dist(rng);
    return v;
  }
  static std::span<const float> slot(const std::vector<float>& v, std::size_t k) {
    return std::span(v).subspan(k * audio::kFrameTensorSize, audio::kFrameTensorSize);
  }
  static const LipSyncModel& model() { return **model_; }

  static std::filesystem::path* dir_;
  static std::shared_ptr<LipSyncModel>* model_;
};
std::filesystem::path* PipelineTest::dir_ = nullptr;
std::shared_ptr<LipSyncModel>* PipelineTest::model_ = nullptr;

int max_pixel_difference(const Image& a, const Image& b) {
  int worst = 0;
  for (std::size_t i = 0; i < a.pixels.size(); ++i)
    worst = std::max(worst, std::abs(a.pixels[i] - b.pixels[i]));
  return worst;
}

TEST_F(PipelineTest, OneBatchEqualsPerFrameRuns) {
  const auto audio = random_audio(3, 1);
  const std::vector<FrameJob> jobs = {
      {0, slot(audio, 0)}, {4, slot(audio, 1)}, {2, slot(audio, 2)}};
  ThreadPool pool(2);
  auto batch = render_batch(model(), jobs, {}, &pool);
  ASSERT_TRUE(batch.ok()) << batch.status().to_string();
  ASSERT_EQ(batch->frames.size(), 3u);
  for (std::size_t k = 0; k < jobs.size(); ++k) {
    auto single = render_batch(model(), std::span(jobs).subspan(k, 1), {}, nullptr);
    ASSERT_TRUE(single.ok());
    const Image& frame = batch->frames[k];
    EXPECT_EQ(frame.width, testing::kAvatarWidth);
    EXPECT_EQ(frame.height, testing::kAvatarHeight);
    // Batched and single runs may round the last float bit differently: at most 1 level.
    EXPECT_LE(max_pixel_difference(frame, single->frames[0]), 1) << "frame " << k;
  }
  EXPECT_GT(batch->timings.inference_ms, 0.0);
}

TEST_F(PipelineTest, ClientImageTensorsEqualTheAvatarsOwn) {
  const auto audio = random_audio(2, 2);
  const std::vector<FrameJob> jobs = {{1, slot(audio, 0)}, {3, slot(audio, 1)}};
  const std::size_t per_frame = model().avatar().geometry().input_tensor_elements();
  std::vector<float> images(2 * per_frame);
  for (std::size_t k = 0; k < 2; ++k) {
    ASSERT_TRUE(model()
                    .avatar()
                    .fill_input_tensor(static_cast<std::size_t>(jobs[k].source_frame),
                                       std::span(images).subspan(k * per_frame, per_frame))
                    .ok());
  }
  auto own = render_batch(model(), jobs, {}, nullptr);
  auto given = render_batch(model(), jobs, {{}, images}, nullptr);
  ASSERT_TRUE(own.ok() && given.ok());
  for (std::size_t k = 0; k < 2; ++k) EXPECT_EQ(own->frames[k].pixels, given->frames[k].pixels);
}

TEST_F(PipelineTest, PaddedBatchesGiveTheSameFrames) {
  // A device executor runs a batch at a warmed size (a batch of 3 as 4): the padding logic
  // itself runs on the CPU.
  const Config config = testing::synthetic_config(*dir_, {"a"});
  const ModelConfig& m = config.models.at("a");
  auto avatar =
      avatar::Avatar::load({.video_path = m.source_video, .rects_path = m.crop_rects_path});
  const auto& geometry = imaging::kSyncTalk328;
  auto session =
      runtime::Session::create(m.model_path, {}, unet_inputs(geometry), unet_outputs(geometry));
  ASSERT_TRUE(avatar.ok() && session.ok());
  const LipSyncModel padded(std::move(avatar).value(), std::move(session).value(), 0);
  const std::vector<int> sizes{1, 4};
  auto warm = padded.warm_up(sizes);
  ASSERT_TRUE(warm.ok()) << warm.status().to_string();
  EXPECT_GT(*warm, 0.0);

  const auto audio = random_audio(3, 4);
  const std::vector<FrameJob> jobs = {
      {5, slot(audio, 0)}, {0, slot(audio, 1)}, {3, slot(audio, 2)}};
  for (std::size_t count : {1u, 3u}) {
    const auto subset = std::span(jobs).first(count);
    auto plain = render_batch(model(), subset, {}, nullptr);
    auto with_padding = render_batch(padded, subset, {.slots = 4}, nullptr);
    ASSERT_TRUE(plain.ok() && with_padding.ok()) << with_padding.status().to_string();
    ASSERT_EQ(with_padding->frames.size(), count);
    for (std::size_t k = 0; k < count; ++k) {
      EXPECT_LE(max_pixel_difference(plain->frames[k], with_padding->frames[k]), 1);
    }
  }
}

// The model as a device executor runs it: a batch of 3 at the warmed size 4 gives the frames of a
// plain batch of 3 (as close as padding allows, as above), pasted as the request asks.
TEST_F(PipelineTest, ADeviceExecutorRunsTheModelAtItsBucketedSizes) {
  DeviceExecutor executor("cpu", {.max_batch = 8, .batch_sizes = {1, 2, 4}}, nullptr, nullptr);
  const auto audio = random_audio(3, 7);
  RenderRequest request{.model_id = "a", .source_frames = {5, 0, 3}, .audio = audio};
  request.deadlines.assign(3, ExecutorClock::now());
  auto result = executor
                    .submit({.model_id = "a",
                             .runner = std::shared_ptr<ModelRunner>(*model_, model_->get()),
                             .request = request})
                    .get();
  ASSERT_TRUE(result.ok()) << result.status().to_string();
  EXPECT_EQ(executor.stats().batches_by_size.at(4), 1);
  EXPECT_EQ(executor.stats().padded_slots, 1);
  const std::vector<FrameJob> jobs = {
      {5, slot(audio, 0)}, {0, slot(audio, 1)}, {3, slot(audio, 2)}};
  auto plain = render_batch(model(), jobs, {}, nullptr);
  ASSERT_TRUE(plain.ok());
  ASSERT_EQ(result->frames.size(), 3u);
  for (std::size_t k = 0; k < 3; ++k)
    EXPECT_LE(max_pixel_difference(plain->frames[k], result->frames[k]), 1) << "frame " << k;
}

// Exports as users make them: torch's default I/O names, and a fixed batch (1 as the reference
// export, 4 to see a padded last chunk). Batches of any size give the frames of the normal model.
TEST_F(PipelineTest, FixedBatchAndTorchNamedExportsGiveTheSameFrames) {
  const auto audio = random_audio(6, 6);
  std::vector<FrameJob> jobs;
  for (std::size_t k = 0; k < 6; ++k)
    jobs.push_back({static_cast<std::int64_t>(5 - k), slot(audio, k)});
  for (const auto& [file, fixed] : {std::pair{"unet_tiny_batch1.onnx", 1},
                                    {"unet_tiny_batch4.onnx", 4},
                                    {"unet_tiny_torch_names.onnx", 0}}) {
    ModelConfig m = testing::synthetic_config(*dir_, {"a"}).models.at("a");
    m.model_path = lipsync::testing::test_models_dir() / file;
    auto loaded = LipSyncModel::load(m, {});
    ASSERT_TRUE(loaded.ok()) << file << ": " << loaded.status().to_string();
    const LipSyncModel& exported = **loaded;
    EXPECT_EQ(exported.fixed_batch_frames(), fixed) << file;
    ThreadPool pool(2);
    for (std::size_t count : {1u, 3u, 6u}) {
      const auto subset = std::span(jobs).first(count);
      auto plain = render_batch(model(), subset, {}, &pool);
      auto chunked = render_batch(exported, subset, {}, &pool);
      ASSERT_TRUE(plain.ok() && chunked.ok()) << file << ": " << chunked.status().to_string();
      ASSERT_EQ(chunked->frames.size(), count);
      for (std::size_t k = 0; k < count; ++k) {
        EXPECT_LE(max_pixel_difference(plain->frames[k], chunked->frames[k]), 1)
            << file << ", " << count << " frames, frame " << k;
      }
    }
  }
}

// JPEG jobs from a splicing store equal encoding the frames of an exact (raw) store: the same
// outputs, composited and encoded once; BGR jobs in the same batch stay frames.
TEST_F(PipelineTest, JpegJobsAreSplicedAndMixWithFrameJobs) {
  const Config config = testing::synthetic_config(*dir_, {"a"});
  const ModelConfig& m = config.models.at("a");
  const media::JpegSettings jpeg{.quality = 80};
  auto load = [&](avatar::BackgroundStoreOptions store) -> std::unique_ptr<LipSyncModel> {
    auto avatar = avatar::Avatar::load(
        {.video_path = m.source_video, .rects_path = m.crop_rects_path}, {.background = store});
    const auto& geometry = imaging::kSyncTalk328;
    auto session =
        runtime::Session::create(m.model_path, {}, unet_inputs(geometry), unet_outputs(geometry));
    if (!avatar.ok() || !session.ok()) return nullptr;
    return std::make_unique<LipSyncModel>(std::move(avatar).value(), std::move(session).value(), 0);
  };
  auto splice = load({.kind = avatar::BackgroundStoreKind::kJpegSplice, .jpeg_quality = 80});
  auto raw = load({.kind = avatar::BackgroundStoreKind::kRaw});
  ASSERT_TRUE(splice && raw);
  ASSERT_EQ(splice->avatar().splice_refusal(jpeg), "");

  const auto audio = random_audio(3, 5);
  const std::vector<FrameJob> frame_jobs = {
      {5, slot(audio, 0)}, {0, slot(audio, 1)}, {3, slot(audio, 2)}};
  std::vector<FrameJob> mixed = frame_jobs;
  mixed[0].jpeg = jpeg;
  mixed[2].jpeg = jpeg;
  ThreadPool pool(2);
  auto spliced = render_batch(*splice, mixed, {}, &pool);
  auto exact = render_batch(*raw, frame_jobs, {}, &pool);
  ASSERT_TRUE(spliced.ok()) << spliced.status().to_string();
  ASSERT_TRUE(exact.ok()) << exact.status().to_string();
  ASSERT_EQ(spliced->jpegs.size(), 3u);
  ASSERT_EQ(spliced->frames.size(), 3u);
  for (std::size_t k : {0u, 2u}) {
    EXPECT_TRUE(spliced->frames[k].empty());
    auto expected = media::encode_jpeg(exact->frames[k].view(), jpeg);
    ASSERT_TRUE(expected.ok());
    EXPECT_EQ(spliced->jpegs[k], *expected) << "job " << k;
  }
  EXPECT_TRUE(spliced->jpegs[1].empty());
  EXPECT_EQ(spliced->frames[1].width, testing::kAvatarWidth);
}

TEST_F(PipelineTest, BadJobsAreClearErrors) {
  const auto audio = random_audio(1, 3);
  const std::vector<float> short_audio(100);
  const std::vector<float> wrong_images(10);
  struct Case {
    std::vector<FrameJob> jobs;
    BatchOptions options;
    const char* fragment;
  };
  const std::vector<Case> cases = {
      {{}, {}, "at least one frame"},
      {{{6, slot(audio, 0)}}, {}, "source frame 6 outside [0, 6)"},
      {{{-1, slot(audio, 0)}}, {}, "source frame -1"},
      {{{0, short_audio}}, {}, "audio tensor has 100 floats"},
      {{{0, slot(audio, 0)}}, {{}, wrong_images}, "visual frames hold 10 floats"},
      {{{.source_frame = 0, .audio = slot(audio, 0), .image = wrong_images}},
       {},
       "image tensor has 10 floats"},
  };
  for (const auto& c : cases) {
    auto r = render_batch(model(), c.jobs, c.options, nullptr);
    ASSERT_FALSE(r.ok()) << c.fragment;
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(c.fragment), std::string::npos) << r.status().message();
  }
}

}  // namespace
}  // namespace lipsync::pipeline
