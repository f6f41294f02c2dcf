// The ONNX audio encoder adapter, with the generated tiny encoder (random weights, the real
// architecture at 1/8 width), and the streaming extractor through it.
#include "pipeline/onnx_feature_encoder.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "audio/streaming_extractor.h"
#include "core/npy.h"
#include "support/test_paths.h"

namespace lipsync::pipeline {
namespace {

std::unique_ptr<OnnxFeatureEncoder> tiny_encoder() {
  runtime::SessionOptions options;
  options.intra_op_threads = 1;
  auto encoder = OnnxFeatureEncoder::create(
      lipsync::testing::test_models_dir() / "encoder_tiny.onnx", options);
  EXPECT_TRUE(encoder.ok()) << encoder.status().to_string();
  return encoder.ok() ? std::move(encoder).value() : nullptr;
}

std::vector<float> sanders_audio() {
  auto array = read_npy(lipsync::testing::reference_dir() / "audio" / "sanders_audio_16k.npy");
  EXPECT_TRUE(array.ok());
  return array->to_c_order<float>();
}

std::shared_ptr<const audio::MelAnalyzer> make_analyzer() {
  auto analyzer = audio::MelAnalyzer::create();
  EXPECT_TRUE(analyzer.ok());
  return std::shared_ptr<const audio::MelAnalyzer>(std::move(analyzer).value());
}

double max_abs_diff(std::span<const float> a, std::span<const float> b) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0.0;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    worst = std::max(worst, static_cast<double>(std::abs(a[i] - b[i])));
  }
  return worst;
}

TEST(OnnxFeatureEncoderTest, EncodesBatchesIndependentlyOfBatchSize) {
  auto encoder = tiny_encoder();
  ASSERT_NE(encoder, nullptr);
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> mel(-4.0f, 4.0f);
  constexpr std::size_t kCount = 64;
  std::vector<float> windows(kCount * audio::kWindowSize);
  for (float& v : windows) v = mel(rng);
  auto batched = encoder->encode(windows, kCount);
  ASSERT_TRUE(batched.ok()) << batched.status().to_string();
  ASSERT_EQ(batched->size(), kCount * audio::kFeatureSize);
  double worst = 0.0;
  for (std::size_t k = 0; k < kCount; ++k) {
    auto single =
        encoder->encode(std::span(windows).subspan(k * audio::kWindowSize, audio::kWindowSize), 1);
    ASSERT_TRUE(single.ok());
    worst =
        std::max(worst, max_abs_diff(*single, std::span(*batched).subspan(k * audio::kFeatureSize,
                                                                          audio::kFeatureSize)));
  }
  std::printf("tiny encoder batch 64 vs batch 1: max |delta| %.3g\n", worst);
  EXPECT_LE(worst, 1e-6);
  for (float v : *batched) ASSERT_GE(v, 0.0f);  // ReLU output, pipeline.md §8
}

TEST(OnnxFeatureEncoderTest, PaddedRunsGiveTheSameFeatures) {
  // The CUDA path pads short runs to a fixed batch; the padding itself is exercised on the CPU.
  auto plain = tiny_encoder();
  runtime::SessionOptions options;
  options.intra_op_threads = 1;
  auto padded = OnnxFeatureEncoder::create(
      lipsync::testing::test_models_dir() / "encoder_tiny.onnx", options, 16);
  ASSERT_TRUE(plain && padded.ok()) << padded.status().to_string();
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> mel(-4.0f, 4.0f);
  for (std::size_t count : {1u, 5u, 16u, 20u}) {
    std::vector<float> windows(count * audio::kWindowSize);
    for (float& v : windows) v = mel(rng);
    auto a = plain->encode(windows, count);
    auto b = (*padded)->encode(windows, count);
    ASSERT_TRUE(a.ok() && b.ok());
    ASSERT_EQ(b->size(), count * audio::kFeatureSize);
    EXPECT_LE(max_abs_diff(*a, *b), 1e-6) << count << " windows";
  }
}

// An encoder exported without a dynamic batch axis runs its windows 4 at a time (the last run
// padded) and gives the features of the dynamic model with the same weights.
TEST(OnnxFeatureEncoderTest, FixedBatchModelRunsInChunks) {
  auto plain = tiny_encoder();
  runtime::SessionOptions options;
  options.intra_op_threads = 1;
  auto fixed = OnnxFeatureEncoder::create(
      lipsync::testing::test_models_dir() / "encoder_tiny_batch4.onnx", options);
  ASSERT_TRUE(plain && fixed.ok()) << fixed.status().to_string();
  EXPECT_EQ((*fixed)->session().inputs()[0].shape[0], 4);
  std::mt19937 rng(13);
  std::uniform_real_distribution<float> mel(-4.0f, 4.0f);
  for (std::size_t count : {1u, 4u, 6u, 9u}) {
    std::vector<float> windows(count * audio::kWindowSize);
    for (float& v : windows) v = mel(rng);
    auto a = plain->encode(windows, count);
    auto b = (*fixed)->encode(windows, count);
    ASSERT_TRUE(a.ok() && b.ok()) << b.status().to_string();
    ASSERT_EQ(b->size(), count * audio::kFeatureSize);
    EXPECT_LE(max_abs_diff(*a, *b), 1e-6) << count << " windows";
  }
}

TEST(OnnxFeatureEncoderTest, StreamingEqualsWholeClip) {
  auto encoder = tiny_encoder();
  ASSERT_NE(encoder, nullptr);
  const auto analyzer = make_analyzer();
  const std::vector<float> audio = sanders_audio();
  auto mel = analyzer->compute(audio);
  ASSERT_TRUE(mel.ok());
  auto clip = audio::extract_clip_features(*mel, *encoder);
  ASSERT_TRUE(clip.ok()) << clip.status().to_string();
  const std::vector<float> expected = audio::clip_frame_tensors(*clip);

  audio::StreamingFeatureExtractor stream(analyzer, *encoder);
  std::mt19937 rng(11);
  std::uniform_int_distribution<std::size_t> chunk_size(1, 6000);
  std::vector<float> streamed;
  for (std::size_t offset = 0; offset < audio.size();) {
    const std::size_t chunk = std::min(audio.size() - offset, chunk_size(rng));
    auto frames = stream.push(std::span(audio).subspan(offset, chunk));
    ASSERT_TRUE(frames.ok()) << frames.status().to_string();
    for (const auto& f : *frames) streamed.insert(streamed.end(), f.values.begin(), f.values.end());
    offset += chunk;
  }
  auto tail = stream.flush();
  ASSERT_TRUE(tail.ok());
  for (const auto& f : *tail) streamed.insert(streamed.end(), f.values.begin(), f.values.end());
  const double worst = max_abs_diff(streamed, expected);
  std::printf("tiny encoder streaming vs whole clip: %zu frames, max |delta| %.3g\n",
              clip->frame_count(), worst);
  EXPECT_LE(worst, 1e-6);
}

TEST(OnnxFeatureEncoderTest, WrongModelOrInputIsAClearError) {
  auto missing = OnnxFeatureEncoder::create(lipsync::testing::temp_dir() / "none.onnx", {});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("none.onnx"), std::string::npos);

  auto unet =
      OnnxFeatureEncoder::create(lipsync::testing::test_models_dir() / "unet_tiny.onnx", {});
  ASSERT_FALSE(unet.ok());
  EXPECT_NE(unet.status().message().find("unet_tiny.onnx"), std::string::npos)
      << unet.status().message();
  EXPECT_NE(unet.status().message().find("[-1,1,80,16]"), std::string::npos)
      << unet.status().message();  // the expected shape

  auto encoder = tiny_encoder();
  ASSERT_NE(encoder, nullptr);
  const std::vector<float> short_input(audio::kWindowSize - 1, 0.0f);
  EXPECT_FALSE(encoder->encode(short_input, 1).ok());
  EXPECT_FALSE(encoder->encode({}, 0).ok());
}

}  // namespace
}  // namespace lipsync::pipeline
