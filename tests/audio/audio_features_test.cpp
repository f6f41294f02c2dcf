// Encoder windows, F_pad and per-frame audio tensors (pipeline.md §2-3).
#include "audio/audio_features.h"

#include <gtest/gtest.h>

#include "core/npy.h"
#include "support/test_paths.h"
#include "test_encoders.h"

namespace lipsync::audio {
namespace {

std::filesystem::path audio_reference(const std::string& name) {
  return lipsync::testing::reference_dir() / "audio" / name;
}

MelSpectrogram reference_mel() {
  auto array = read_npy(audio_reference("sanders_mel_normalized_f64.npy"));
  EXPECT_TRUE(array.ok());
  MelSpectrogram mel;
  mel.frame_count = array->shape[0];
  mel.values = array->to_c_order<double>();
  return mel;
}

TEST(WindowGeometryTest, CountsAndStartsFollowTheReference) {
  EXPECT_EQ(window_count(1674), 520u);  // the sanders clip: F_pad has 522 rows
  EXPECT_EQ(window_count(16), 2u);
  EXPECT_EQ(window_start_unclamped(0), 0u);
  EXPECT_EQ(window_start_unclamped(1), 3u);
  EXPECT_EQ(window_start_unclamped(5), 16u);
  EXPECT_EQ(window_start_unclamped(9), 28u);
  // The last window of a clip is clamped to M-16, the others are not.
  for (std::size_t frames : {16u, 17u, 100u, 1674u, 1675u, 1677u}) {
    const std::size_t n = window_count(frames);
    EXPECT_EQ(window_start(n - 1, frames), std::min(window_start_unclamped(n - 1), frames - 16));
    if (n >= 2) {
      EXPECT_LE(window_start_unclamped(n - 2) + 16, frames) << frames;
    }
  }
}

TEST(WindowTest, ReferenceWindowsAreExact) {
  const MelSpectrogram mel = reference_mel();
  auto windows = clip_windows(mel);
  ASSERT_TRUE(windows.ok());
  ASSERT_EQ(windows->size(), 520 * kWindowSize);
  for (std::size_t k = 0; k < 10; ++k) {
    auto golden = read_npy(audio_reference("mel_windows/frame_" + std::to_string(k) + ".npy"));
    ASSERT_TRUE(golden.ok());
    ASSERT_EQ(golden->shape, (std::vector<std::size_t>{16, 80}));
    const std::vector<double> rows = golden->to_c_order<double>();
    for (std::size_t r = 0; r < 16; ++r) {
      for (std::size_t b = 0; b < kMelBins; ++b) {
        // Window [80, 16]: bin b is row b, time r is column r.
        ASSERT_EQ((*windows)[k * kWindowSize + b * 16 + r], static_cast<float>(rows[r * 80 + b]))
            << "window " << k << " time " << r << " bin " << b;
      }
    }
  }
}

TEST(WindowTest, ComputedMelWindowsMatchGoldenWindows) {
  auto audio = read_npy(audio_reference("sanders_audio_16k.npy"));
  ASSERT_TRUE(audio.ok());
  auto analyzer = MelAnalyzer::create();
  ASSERT_TRUE(analyzer.ok());
  auto mel = (*analyzer)->compute(audio->to_c_order<float>());
  ASSERT_TRUE(mel.ok());
  auto windows = clip_windows(*mel);
  ASSERT_TRUE(windows.ok());
  double worst = 0.0;
  for (std::size_t k = 0; k < 10; ++k) {
    auto golden = read_npy(audio_reference("mel_windows/frame_" + std::to_string(k) + ".npy"));
    ASSERT_TRUE(golden.ok());
    const std::vector<double> rows = golden->to_c_order<double>();
    for (std::size_t r = 0; r < 16; ++r) {
      for (std::size_t b = 0; b < kMelBins; ++b) {
        worst =
            std::max(worst, std::abs((*windows)[k * kWindowSize + b * 16 + r] - rows[r * 80 + b]));
      }
    }
  }
  EXPECT_LE(worst, 1e-5);
}

TEST(WindowTest, TooShortMelIsAnError) {
  MelSpectrogram mel;
  mel.frame_count = 15;
  mel.values.assign(15 * kMelBins, 0.0);
  auto windows = clip_windows(mel);
  ASSERT_FALSE(windows.ok());
  EXPECT_NE(windows.status().message().find("too short"), std::string::npos);
}

TEST(FeaturePaddingTest, DuplicatesFirstAndLastRow) {
  std::vector<float> features(3 * kFeatureSize);
  for (std::size_t i = 0; i < features.size(); ++i) features[i] = static_cast<float>(i);
  const std::vector<float> padded = pad_features(features, 3);
  ASSERT_EQ(padded.size(), 5 * kFeatureSize);
  const std::size_t source_row[] = {0, 0, 1, 2, 2};
  for (std::size_t row = 0; row < 5; ++row) {
    for (std::size_t j = 0; j < kFeatureSize; ++j) {
      ASSERT_EQ(padded[row * kFeatureSize + j], features[source_row[row] * kFeatureSize + j]);
    }
  }
}

TEST(FrameTensorTest, SandersFeaturesLayoutElementwise) {
  auto golden = read_npy(audio_reference("sanders_features_ave.npy"));
  ASSERT_TRUE(golden.ok());
  const std::vector<float> padded = golden->to_c_order<float>();
  const std::size_t rows = golden->shape[0];
  ASSERT_EQ(rows, 522u);
  ClipFeatures clip;
  clip.window_count = rows - 2;
  clip.padded_features = padded;
  const std::vector<float> tensors = clip_frame_tensors(clip);
  ASSERT_EQ(tensors.size(), rows * kFrameTensorSize);
  std::size_t zero_rows = 0;
  for (std::size_t i = 0; i < rows; ++i) {
    const float* tensor = tensors.data() + i * kFrameTensorSize;
    for (std::size_t r = 0; r < 16; ++r) {
      const long source = static_cast<long>(i) - 8 + static_cast<long>(r);
      const bool outside = source < 0 || source >= static_cast<long>(rows);
      zero_rows += outside ? 1 : 0;
      for (std::size_t j = 0; j < kFeatureSize; ++j) {
        // Element (r, j) of [16, 512] -> channel 2r + j/256, row (j%256)/16, column j%16.
        const std::size_t channel = 2 * r + j / 256, y = (j % 256) / 16, x = j % 16;
        const float value = tensor[(channel * 16 + y) * 16 + x];
        const float expected = outside ? 0.0f : padded[static_cast<std::size_t>(source) * 512 + j];
        ASSERT_EQ(value, expected) << "frame " << i << " row " << r << " element " << j;
      }
    }
  }
  // Frames 0..7 miss 8..1 rows at the start; the last 7 frames miss 1..7 rows at the end.
  EXPECT_EQ(zero_rows, (8 * 9 / 2) + (7 * 8 / 2));
}

TEST(EncodeWindowsTest, RunsAFewBatchesAndChecksOutput) {
  const MelSpectrogram mel = reference_mel();
  testing::MixingEncoder encoder;
  auto clip = extract_clip_features(mel, encoder, 128);
  ASSERT_TRUE(clip.ok()) << clip.status().to_string();
  EXPECT_EQ(clip->window_count, 520u);
  EXPECT_EQ(encoder.batches, (std::vector<std::size_t>{128, 128, 128, 128, 8}));
  EXPECT_EQ(clip->padded_features.size(), 522 * kFeatureSize);

  testing::MixingEncoder single;
  auto one_batch = extract_clip_features(mel, single, 1024);
  ASSERT_TRUE(one_batch.ok());
  EXPECT_EQ(single.batches, (std::vector<std::size_t>{520}));
  EXPECT_EQ(one_batch->padded_features, clip->padded_features);

  testing::BrokenEncoder broken;
  auto failed = extract_clip_features(mel, broken);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("audio encoder returned"), std::string::npos);
}

}  // namespace
}  // namespace lipsync::audio
