// Conformance of the mel spectrogram (pipeline.md §1) with the reference's golden files.
#include "audio/mel_spectrogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/npy.h"
#include "support/test_paths.h"

namespace lipsync::audio {
namespace {

std::filesystem::path audio_reference(const std::string& name) {
  return lipsync::testing::reference_dir() / "audio" / name;
}

std::vector<float> load_f32(const std::string& name) {
  auto array = read_npy(audio_reference(name));
  EXPECT_TRUE(array.ok()) << array.status().to_string();
  return array.ok() ? array->to_c_order<float>() : std::vector<float>{};
}

nlohmann::json load_json(const std::string& name) {
  std::ifstream in(audio_reference(name));
  return nlohmann::json::parse(in);
}

// Max |a - b| with a in float64 rounded to float32 first (the golden files are float32).
double max_abs_diff_f32(const std::vector<double>& ours, const std::vector<float>& golden) {
  EXPECT_EQ(ours.size(), golden.size());
  double worst = 0.0;
  for (std::size_t i = 0; i < std::min(ours.size(), golden.size()); ++i) {
    worst = std::max(worst, std::abs(static_cast<double>(static_cast<float>(ours[i])) -
                                     static_cast<double>(golden[i])));
  }
  return worst;
}

class MelSpectrogramTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto analyzer = MelAnalyzer::create();
    ASSERT_TRUE(analyzer.ok());
    analyzer_ = std::move(analyzer).value();
  }
  std::unique_ptr<MelAnalyzer> analyzer_;
};

TEST(MelFilterbankTest, MatchesLibrosaSlaneyFilterbank) {
  const nlohmann::json reference = load_json("mel_filters.json");
  const std::vector<double> bank = slaney_mel_filterbank();
  const auto& filters = reference.at("filters");
  ASSERT_EQ(filters.size(), kMelBins);
  double worst = 0.0;
  for (std::size_t m = 0; m < kMelBins; ++m) {
    ASSERT_EQ(filters[m].size(), kFftBins);
    for (std::size_t k = 0; k < kFftBins; ++k) {
      worst = std::max(worst, std::abs(bank[m * kFftBins + k] - filters[m][k].get<double>()));
    }
  }
  std::printf("filterbank max |delta| = %.3g\n", worst);
  EXPECT_LE(worst, 1e-7);
}

TEST_F(MelSpectrogramTest, SandersEveryStageMatchesReference) {
  const std::vector<float> audio = load_f32("sanders_audio_16k.npy");
  auto stages = analyzer_->compute_stages(audio);
  ASSERT_TRUE(stages.ok()) << stages.status().to_string();
  EXPECT_EQ(stages->normalized.frame_count, 1674u);

  const double preemphasis =
      max_abs_diff_f32(stages->preemphasis, load_f32("sanders_preemphasis.npy"));
  const double linear = max_abs_diff_f32(stages->linear.values, load_f32("sanders_mel_linear.npy"));
  const double decibels = max_abs_diff_f32(stages->decibels.values, load_f32("sanders_mel_db.npy"));
  const double normalized =
      max_abs_diff_f32(stages->normalized.values, load_f32("sanders_mel_normalized.npy"));
  std::printf("sanders max |delta|: preemphasis %.3g, linear %.3g, dB %.3g, normalised %.3g\n",
              preemphasis, linear, decibels, normalized);
  EXPECT_LE(preemphasis, 1e-6);
  EXPECT_LE(linear, 1e-5);
  EXPECT_LE(decibels, 1e-4);
  EXPECT_LE(normalized, 1e-4);  // pipeline.md §1 golden tolerance
  EXPECT_LE(normalized, 1e-5);  // achievable, and achieved
}

TEST_F(MelSpectrogramTest, NormalisedMelMatchesFloat64Reference) {
  auto golden = read_npy(audio_reference("sanders_mel_normalized_f64.npy"));
  ASSERT_TRUE(golden.ok());
  const std::vector<double> expected = golden->to_c_order<double>();
  auto mel = analyzer_->compute(load_f32("sanders_audio_16k.npy"));
  ASSERT_TRUE(mel.ok());
  ASSERT_EQ(mel->values.size(), expected.size());
  double worst = 0.0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    worst = std::max(worst, std::abs(mel->values[i] - expected[i]));
  }
  std::printf("sanders normalised mel vs float64 reference: max |delta| = %.3g\n", worst);
  EXPECT_LE(worst, 1e-5);
}

TEST_F(MelSpectrogramTest, Sine440MatchesReference) {
  const nlohmann::json reference = load_json("sine440_mel_reference.json");
  const std::vector<float> audio = reference.at("audio").get<std::vector<float>>();
  auto mel = analyzer_->compute(audio);
  ASSERT_TRUE(mel.ok());
  const auto& expected = reference.at("mel_spectrogram");
  ASSERT_EQ(mel->frame_count, expected.size());
  double worst = 0.0;
  for (std::size_t t = 0; t < mel->frame_count; ++t) {
    for (std::size_t b = 0; b < kMelBins; ++b) {
      worst = std::max(worst, std::abs(mel->row(t)[b] - expected[t][b].get<double>()));
    }
  }
  std::printf("sine440 normalised mel max |delta| = %.3g\n", worst);
  EXPECT_LE(worst, 1e-5);
}

TEST_F(MelSpectrogramTest, FrameCountFollowsLength) {
  for (std::size_t length : {1u, 199u, 200u, 201u, 3000u}) {
    std::vector<float> audio(length, 0.25f);
    auto mel = analyzer_->compute(audio);
    ASSERT_TRUE(mel.ok());
    EXPECT_EQ(mel->frame_count, 1 + length / 200);
    EXPECT_EQ(mel->values.size(), mel->frame_count * kMelBins);
  }
}

TEST_F(MelSpectrogramTest, SilenceIsTheFloor) {
  // 20·log10(1e-5) - 20 = -120 dB -> clip(0.08·-120 + 4) = -4.
  auto mel = analyzer_->compute(std::vector<float>(4000, 0.0f));
  ASSERT_TRUE(mel.ok());
  for (double v : mel->values) EXPECT_EQ(v, -4.0);
}

TEST_F(MelSpectrogramTest, RejectsEmptyAndNonFiniteAudio) {
  auto empty = analyzer_->compute({});
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(empty.status().message().find("empty"), std::string::npos);

  std::vector<float> audio(5000, 0.1f);
  audio[1234] = std::nanf("");
  auto nan = analyzer_->compute(audio);
  ASSERT_FALSE(nan.ok());
  EXPECT_NE(nan.status().message().find("sample 1234"), std::string::npos)
      << nan.status().message();
  audio[1234] = 0.0f;
  audio[4999] = -INFINITY;
  auto inf = analyzer_->compute(audio);
  ASSERT_FALSE(inf.ok());
  EXPECT_NE(inf.status().message().find("sample 4999"), std::string::npos);
}

}  // namespace
}  // namespace lipsync::audio
