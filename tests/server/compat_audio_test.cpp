// The compat request's audio is placed on the clip's timeline (compat-api.md "Audio
// alignment"): a batch's tensors from the clipped request audio equal the whole clip's.
#include "pipeline/compat_audio.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "audio/audio_decoder.h"
#include "audio/audio_features.h"

namespace lipsync::pipeline {
namespace {

using audio::kFrameTensorSize;

// Deterministic, position-sensitive stand-in for the encoder: each feature mixes a few window
// values, so any shift of the mel windows changes it.
class MixingEncoder : public audio::FeatureEncoder {
 public:
  Result<std::vector<float>> encode(std::span<const float> windows, std::size_t count) override {
    std::vector<float> out(count * audio::kFeatureSize);
    for (std::size_t c = 0; c < count; ++c) {
      const auto w = windows.subspan(c * audio::kWindowSize, audio::kWindowSize);
      for (std::size_t j = 0; j < audio::kFeatureSize; ++j) {
        out[c * audio::kFeatureSize + j] =
            w[j] + 0.5f * w[(j * 7 + 3) % w.size()] - w[w.size() - 1 - j];
      }
    }
    return out;
  }
};

std::vector<float> speech_like(std::size_t samples) {
  std::mt19937 rng(7);
  std::normal_distribution<float> noise(0.0f, 0.05f);
  std::vector<float> x(samples);
  for (std::size_t n = 0; n < samples; ++n) {
    const double t = static_cast<double>(n) / 16000.0;
    x[n] = static_cast<float>(0.3 * std::sin(2 * M_PI * (180 + 60 * std::sin(3 * t)) * t) *
                              (0.6 + 0.4 * std::sin(7 * t))) +
           noise(rng);
  }
  return x;
}

// Clip samples [lo, hi) that frame i's tensor depends on (windows i-9 .. i+6, pipeline.md §2-3:
// 16 mel frames from floor(3.2k), each reading ±400 samples around k·200, plus pre-emphasis).
std::pair<std::int64_t, std::int64_t> samples_read(std::int64_t i) {
  const std::int64_t k_lo = std::max<std::int64_t>(0, i - 9);
  const std::int64_t k_hi = i + 6;
  return {(80 * k_lo / 25) * 200 - 401, (80 * k_hi / 25 + 15) * 200 + 400};
}

class CompatAudioTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto mel = audio::MelAnalyzer::create();
    ASSERT_TRUE(mel.ok());
    mel_ = std::move(*mel);
    clip_ = speech_like(120 * 640 + 123);
    auto whole_mel = mel_->compute(clip_);
    ASSERT_TRUE(whole_mel.ok());
    auto features = audio::extract_clip_features(*whole_mel, encoder_);
    ASSERT_TRUE(features.ok());
    whole_ = audio::clip_frame_tensors(*features);
  }

  // Checks frames [start, start+batch) of an older-client request (8-frame lead, (batch+15)·640
  // samples) against the whole clip; returns how many frames were compared.
  int compare_batch(std::int64_t start, std::size_t batch) {
    const std::int64_t lead = std::max<std::int64_t>(0, start - 8);
    const std::int64_t a0 = lead * 640;
    const std::int64_t a1 =
        std::min<std::int64_t>(a0 + (static_cast<std::int64_t>(batch) + 15) * 640,
                               static_cast<std::int64_t>(clip_.size()));
    const std::span<const float> request_audio(clip_.data() + a0,
                                               static_cast<std::size_t>(a1 - a0));
    auto tensors = compat_frame_tensors(
        {.raw_audio = request_audio, .start_frame = start, .frame_count = batch}, *mel_, encoder_);
    EXPECT_TRUE(tensors.ok()) << tensors.status().to_string();
    if (!tensors.ok()) return 0;
    int compared = 0;
    for (std::size_t b = 0; b < batch; ++b) {
      const std::int64_t frame = start + static_cast<std::int64_t>(b);
      const auto [lo, hi] = samples_read(frame);
      if ((lo < a0 && a0 > 0) || hi > a1) continue;  // touches an edge of the request's audio
      for (std::size_t v = 0; v < kFrameTensorSize; ++v) {
        const float expected = whole_[static_cast<std::size_t>(frame) * kFrameTensorSize + v];
        const float got = (*tensors)[b * kFrameTensorSize + v];
        if (std::abs(expected - got) > 1e-5f) {
          ADD_FAILURE() << "frame " << frame << " value " << v << ": " << got << " != " << expected;
          return compared;
        }
      }
      ++compared;
    }
    return compared;
  }

  std::unique_ptr<audio::MelAnalyzer> mel_;
  MixingEncoder encoder_;
  std::vector<float> clip_;
  std::vector<float> whole_;
};

TEST_F(CompatAudioTest, FirstBatchMatchesWholeClip) {
  EXPECT_GE(compare_batch(0, 16), 10);
}

TEST_F(CompatAudioTest, LaterBatchesMatchWholeClip) {
  EXPECT_GE(compare_batch(25, 25), 18);
  EXPECT_GE(compare_batch(42, 16), 9);  // audio starts at frame 34: not a whole mel hop multiple
}

TEST_F(CompatAudioTest, IgnoringTheLeadShiftsTheAudio) {
  // The older server's bug: treating the audio as if it started at start_frame_idx.
  const std::int64_t start = 50;
  const std::span<const float> request_audio(clip_.data() + 42 * 640, 40 * 640);
  auto shifted = compat_frame_tensors({.raw_audio = request_audio,
                                       .start_frame = start,
                                       .audio_start_frame = start,
                                       .frame_count = 25},
                                      *mel_, encoder_);
  ASSERT_TRUE(shifted.ok());
  const auto expected = std::span(whole_).subspan(
      static_cast<std::size_t>(start + 5) * kFrameTensorSize, kFrameTensorSize);
  const auto got = std::span(*shifted).subspan(5 * kFrameTensorSize, kFrameTensorSize);
  EXPECT_FALSE(std::equal(expected.begin(), expected.end(), got.begin()));
}

TEST_F(CompatAudioTest, ShortEmptyAndLegacyAudio) {
  const std::vector<float> tiny(10, 0.1f);
  auto short_audio = compat_frame_tensors({.raw_audio = tiny, .start_frame = 100, .frame_count = 4},
                                          *mel_, encoder_);
  ASSERT_TRUE(short_audio.ok()) << short_audio.status().to_string();
  EXPECT_EQ(short_audio->size(), 4 * kFrameTensorSize);

  auto none = compat_frame_tensors({.start_frame = 0, .frame_count = 2}, *mel_, encoder_);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("both empty"), std::string::npos);

  std::vector<float> legacy(kFrameTensorSize);
  for (std::size_t i = 0; i < legacy.size(); ++i) legacy[i] = static_cast<float>(i % 17);
  auto repeated =
      compat_frame_tensors({.legacy_features = legacy, .frame_count = 3}, *mel_, encoder_);
  ASSERT_TRUE(repeated.ok());
  EXPECT_TRUE(std::equal(legacy.begin(), legacy.end(), repeated->begin() + 2 * kFrameTensorSize));

  const std::vector<float> wrong(100);
  EXPECT_FALSE(
      compat_frame_tensors({.legacy_features = wrong, .frame_count = 1}, *mel_, encoder_).ok());
  EXPECT_FALSE(compat_frame_tensors({.raw_audio = tiny, .sample_rate_hz = -5, .frame_count = 1},
                                    *mel_, encoder_)
                   .ok());
  const std::vector<float> bad{0.1f, std::nanf("")};
  EXPECT_FALSE(compat_frame_tensors({.raw_audio = bad, .frame_count = 1}, *mel_, encoder_).ok());
  auto negative = compat_frame_tensors({.raw_audio = tiny, .start_frame = -30, .frame_count = 2},
                                       *mel_, encoder_);
  ASSERT_TRUE(negative.ok());
  EXPECT_TRUE(std::all_of(negative->begin(), negative->end(), [](float v) { return v == 0.0f; }));
}

TEST_F(CompatAudioTest, ResampledAudioGivesTensors) {
  // 48 kHz input is resampled to 16 kHz before the features.
  std::vector<float> at48(3 * 40 * 640);
  for (std::size_t n = 0; n < at48.size(); ++n)
    at48[n] = static_cast<float>(0.3 * std::sin(2 * M_PI * 220 * n / 48000.0));
  auto tensors = compat_frame_tensors(
      {.raw_audio = at48, .sample_rate_hz = 48000, .frame_count = 8}, *mel_, encoder_);
  ASSERT_TRUE(tensors.ok()) << tensors.status().to_string();
  EXPECT_EQ(tensors->size(), 8 * kFrameTensorSize);
  EXPECT_TRUE(std::any_of(tensors->begin() + 6 * kFrameTensorSize, tensors->end(),
                          [](float v) { return v != 0.0f; }));
}

// Issue 19: 100 MB of raw_audio at 1200 Hz cost 1.6 GB of resampling and came back DATA_LOSS.
// Now the rate rule and the length limit answer INVALID_ARGUMENT from the request alone.
TEST_F(CompatAudioTest, LowRateOrOverlongAudioIsRefusedBeforeResampling) {
  const std::vector<float> low(1'000'000, 0.1f);
  auto r = compat_frame_tensors({.raw_audio = low, .sample_rate_hz = 1200, .frame_count = 1}, *mel_,
                                encoder_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("sample rate 1200 Hz"), std::string::npos)
      << r.status().message();

  // One second over the limit at 8 kHz: the message is the pre-check's, from the sample count.
  const std::vector<float> overlong(
      static_cast<std::size_t>(8000 * (audio::kMaxClientAudioSeconds + 1)), 0.0f);
  r = compat_frame_tensors({.raw_audio = overlong, .sample_rate_hz = 8000, .frame_count = 1}, *mel_,
                           encoder_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("raw_audio holds 1801 s at 8000 Hz"), std::string::npos)
      << r.status().message();
}

}  // namespace
}  // namespace lipsync::pipeline
