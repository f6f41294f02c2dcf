// The MP4's sound (VideoWriter::add_audio_file / add_audio): AAC files are copied packet for
// packet, other audio is encoded to AAC at its own rate and layout, in time with the video and
// cut (or, when encoded, padded) to the video's length.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>

#include "media/video_writer.h"
#include "support/audio_probe.h"
#include "support/test_audio_writer.h"
#include "support/test_paths.h"

namespace lipsync::media {
namespace {

namespace fs = std::filesystem;

constexpr int kRate = 44100;
constexpr int kAacFrame = 1024;  // samples per AAC frame
constexpr int kFrames = 40;      // 1.6 s of video at 25 fps
constexpr double kVideoSeconds = kFrames / 25.0;

// 16 kHz mono with structure at every scale: two gliding tones under a syllable-like envelope
// and noise bursts (seeded), so that a shifted copy correlates clearly less.
std::vector<float> test_signal(double seconds) {
  std::mt19937 rng(7);
  std::normal_distribution<float> noise(0.0f, 1.0f);
  std::vector<float> out(static_cast<std::size_t>(seconds * 16000));
  for (std::size_t n = 0; n < out.size(); ++n) {
    const double t = static_cast<double>(n) / 16000;
    const double envelope = 0.5 + 0.5 * std::sin(2 * M_PI * 3.1 * t);
    const double tones =
        std::sin(2 * M_PI * (220 + 90 * t) * t) + 0.5 * std::sin(2 * M_PI * (1300 - 200 * t) * t);
    const double burst = (static_cast<int>(t * 7) % 3 == 0) ? 0.3 * noise(rng) : 0.0;
    out[n] = static_cast<float>(0.25 * envelope * tones + burst * 0.4);
  }
  return out;
}

Image grey_frame(int t) {
  Image image(320, 240);
  std::fill(image.pixels.begin(), image.pixels.end(), static_cast<std::uint8_t>(60 + 3 * t));
  return image;
}

// Writes kFrames of video with the audio of `audio_file`.
Result<AudioTrackInfo> write_with_audio_file(const fs::path& out, const fs::path& audio_file) {
  ASSIGN_OR_RETURN(auto writer, VideoWriter::create(out, {.width = 320, .height = 240}));
  ASSIGN_OR_RETURN(AudioTrackInfo info, writer.add_audio_file(audio_file));
  for (int t = 0; t < kFrames; ++t) RETURN_IF_ERROR(writer.write_frame(grey_frame(t).view()));
  RETURN_IF_ERROR(writer.finish());
  return info;
}

// Normalised cross-correlation of a[i] with b[i - lag] over the first `length` samples of a.
double correlation(const std::vector<float>& a, const std::vector<float>& b, int lag,
                   std::size_t length) {
  double ab = 0, aa = 0, bb = 0;
  for (std::size_t i = 0; i < length; ++i) {
    const long j = static_cast<long>(i) - lag;
    if (j < 0 || j >= static_cast<long>(b.size())) continue;
    ab += static_cast<double>(a[i]) * b[static_cast<std::size_t>(j)];
    aa += static_cast<double>(a[i]) * a[i];
    bb += static_cast<double>(b[static_cast<std::size_t>(j)]) * b[static_cast<std::size_t>(j)];
  }
  return ab / std::sqrt(aa * bb);
}

double rms(const std::vector<float>& x) {
  double sum = 0;
  for (float v : x) sum += static_cast<double>(v) * v;
  return std::sqrt(sum / static_cast<double>(x.size()));
}

std::vector<float> channel_of(const std::vector<float>& interleaved, int c) {
  std::vector<float> out;
  for (std::size_t i = static_cast<std::size_t>(c); i < interleaved.size(); i += 2) {
    out.push_back(interleaved[i]);
  }
  return out;
}

TEST(VideoAudio, WavIsEncodedToAacAtItsOwnRateAndLayoutInTimeWithTheVideo) {
  const fs::path dir = lipsync::testing::temp_dir();
  const auto mono = test_signal(2.0);
  ASSERT_TRUE(
      audio::testing::write_test_audio(dir / "in.wav", mono, {"pcm_s16le", ".wav", kRate}).ok());
  auto info = write_with_audio_file(dir / "out.mp4", dir / "in.wav");
  ASSERT_TRUE(info.ok()) << info.status().to_string();
  EXPECT_FALSE(info->copied);
  EXPECT_EQ(info->source_codec, "pcm_s16le");
  EXPECT_EQ(info->sample_rate_hz, kRate);
  EXPECT_EQ(info->channels, 2);

  auto out = testing::probe_audio(dir / "out.mp4");
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_EQ(out->codec, "aac");
  EXPECT_EQ(out->sample_rate_hz, kRate);
  EXPECT_EQ(out->channels, 2);
  EXPECT_NEAR(out->duration_s(), kVideoSeconds, static_cast<double>(kAacFrame) / kRate);

  // In time: the correlation with the input peaks at lag 0 ± 1 ms (searched over ± 10 ms).
  auto expected = audio::testing::to_stereo(mono, kRate);
  ASSERT_TRUE(expected.ok());
  const auto left = out->channel(0);
  const auto expected_left = channel_of(*expected, 0);
  const std::size_t length = static_cast<std::size_t>(kVideoSeconds * kRate) - kAacFrame;
  int best_lag = 0;
  double best = -2;
  for (int lag = -kRate / 100; lag <= kRate / 100; ++lag) {
    const double c = correlation(left, expected_left, lag, length);
    if (c > best) best = c, best_lag = lag;
  }
  EXPECT_LE(std::abs(best_lag), kRate / 1000) << "peak at " << best_lag << " samples";
  EXPECT_GT(best, 0.95);
  // Still stereo as written (left 1.2·x, right 0.8·x), not a downmix.
  EXPECT_NEAR(rms(left) / rms(out->channel(1)), 1.5, 0.05);
  fs::remove_all(dir);
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double max_diff = 0;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    max_diff = std::max(max_diff, static_cast<double>(std::abs(a[i] - b[i])));
  }
  return max_diff;
}

TEST(VideoAudio, AacIsCopiedPacketForPacketAndDecodesToTheSameSamples) {
  if (!audio::testing::encoder_available("aac")) GTEST_SKIP() << "no AAC encoder";
  const fs::path dir = lipsync::testing::temp_dir();
  const auto mono = test_signal(2.0);
  ASSERT_TRUE(
      audio::testing::write_test_audio(dir / "in.m4a", mono, {"aac", ".m4a", kRate, 128000}).ok());
  auto info = write_with_audio_file(dir / "out.mp4", dir / "in.m4a");
  ASSERT_TRUE(info.ok()) << info.status().to_string();
  EXPECT_TRUE(info->copied);
  EXPECT_EQ(info->source_codec, "aac");

  auto in = testing::probe_audio(dir / "in.m4a");
  auto out = testing::probe_audio(dir / "out.mp4");
  ASSERT_TRUE(in.ok() && out.ok()) << in.status().to_string() << out.status().to_string();
  EXPECT_EQ(out->codec, "aac");
  EXPECT_EQ(out->sample_rate_hz, in->sample_rate_hz);
  EXPECT_EQ(out->channels, in->channels);
  EXPECT_EQ(out->extradata, in->extradata);
  // The leading packets of the input, byte for byte, up to the video's end.
  ASSERT_LT(out->packets.size(), in->packets.size());
  ASSERT_GT(out->packets.size(), 60u);
  for (std::size_t p = 0; p < out->packets.size(); ++p) {
    ASSERT_TRUE(out->packets[p] == in->packets[p]) << "packet " << p << " differs";
  }
  EXPECT_NEAR(out->duration_s(), kVideoSeconds, static_cast<double>(kAacFrame) / kRate);
  // The encoder's priming is still skipped: the decoded sound equals the input's, sample for
  // sample, from the first one.
  ASSERT_LE(out->samples.size(), in->samples.size());
  EXPECT_LT(max_abs_diff(out->samples, in->samples), 1e-6);
  fs::remove_all(dir);
}

TEST(VideoAudio, AdtsAacIsCopiedWithoutItsHeadersAndDecodesToTheSameSamples) {
  if (!audio::testing::encoder_available("aac")) GTEST_SKIP() << "no AAC encoder";
  const fs::path dir = lipsync::testing::temp_dir();
  const auto mono = test_signal(2.0);
  ASSERT_TRUE(
      audio::testing::write_test_audio(dir / "in.aac", mono, {"aac", ".aac", kRate, 128000}).ok());
  auto info = write_with_audio_file(dir / "out.mp4", dir / "in.aac");
  ASSERT_TRUE(info.ok()) << info.status().to_string();
  EXPECT_TRUE(info->copied);
  auto in = testing::probe_audio(dir / "in.aac");
  auto out = testing::probe_audio(dir / "out.mp4");
  ASSERT_TRUE(in.ok() && out.ok()) << in.status().to_string() << out.status().to_string();
  // MP4 keeps raw AAC: each packet is the ADTS packet less its 7-byte header.
  ASSERT_GT(out->packets.size(), 60u);
  for (std::size_t p = 0; p < out->packets.size(); ++p) {
    const std::vector<std::uint8_t> raw(in->packets[p].begin() + 7, in->packets[p].end());
    ASSERT_TRUE(out->packets[p] == raw) << "packet " << p << " differs";
  }
  EXPECT_NEAR(out->duration_s(), kVideoSeconds, 2.0 * kAacFrame / kRate);
  EXPECT_LT(max_abs_diff(out->samples, in->samples), 1e-6);
  fs::remove_all(dir);
}

TEST(VideoAudio, ShortAudioIsPaddedWhenEncodedAndEndsEarlyWhenCopied) {
  const fs::path dir = lipsync::testing::temp_dir();
  const auto mono = test_signal(0.6);
  ASSERT_TRUE(
      audio::testing::write_test_audio(dir / "in.wav", mono, {"pcm_s16le", ".wav", kRate}).ok());
  ASSERT_TRUE(write_with_audio_file(dir / "wav.mp4", dir / "in.wav").ok());
  auto padded = testing::probe_audio(dir / "wav.mp4");
  ASSERT_TRUE(padded.ok());
  EXPECT_NEAR(padded->duration_s(), kVideoSeconds, static_cast<double>(kAacFrame) / kRate);
  const auto left = padded->channel(0);
  const std::vector<float> tail(left.begin() + static_cast<long>(0.7 * kRate), left.end());
  EXPECT_LT(rms(tail), 1e-4) << "the padding is not silent";

  if (!audio::testing::encoder_available("aac")) return;
  ASSERT_TRUE(
      audio::testing::write_test_audio(dir / "in.m4a", mono, {"aac", ".m4a", kRate, 128000}).ok());
  ASSERT_TRUE(write_with_audio_file(dir / "m4a.mp4", dir / "in.m4a").ok());
  auto copied = testing::probe_audio(dir / "m4a.mp4");
  ASSERT_TRUE(copied.ok());
  EXPECT_NEAR(copied->duration_s(), 0.6, static_cast<double>(kAacFrame) / kRate);
  fs::remove_all(dir);
}

TEST(VideoAudio, ARateTheEncoderDoesNotTakeBecomesTheNextHigherOne) {
  const fs::path dir = lipsync::testing::temp_dir();
  const auto mono = test_signal(2.0);
  ASSERT_TRUE(
      audio::testing::write_test_audio(dir / "in.wav", mono, {"pcm_s16le", ".wav", 37800}).ok());
  auto info = write_with_audio_file(dir / "out.mp4", dir / "in.wav");
  ASSERT_TRUE(info.ok()) << info.status().to_string();
  EXPECT_EQ(info->sample_rate_hz, 44100);  // AAC has no 37.8 kHz
  auto out = testing::probe_audio(dir / "out.mp4");
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->sample_rate_hz, 44100);
  EXPECT_NEAR(out->duration_s(), kVideoSeconds, static_cast<double>(kAacFrame) / kRate);
  auto expected = audio::testing::to_stereo(mono, 44100);
  ASSERT_TRUE(expected.ok());
  const std::size_t length = static_cast<std::size_t>(kVideoSeconds * kRate) - kAacFrame;
  EXPECT_GT(correlation(out->channel(0), channel_of(*expected, 0), 0, length), 0.95);
  fs::remove_all(dir);
}

TEST(VideoAudio, SamplesAreCutToTheVideo) {
  const fs::path dir = lipsync::testing::temp_dir();
  const auto mono = test_signal(2.0);
  auto writer = VideoWriter::create(dir / "out.mp4", {.width = 320, .height = 240});
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE(writer->add_audio(mono, {.sample_rate_hz = 16000, .channels = 1}).ok());
  for (int t = 0; t < kFrames; ++t) ASSERT_TRUE(writer->write_frame(grey_frame(t).view()).ok());
  ASSERT_TRUE(writer->finish().ok());
  auto out = testing::probe_audio(dir / "out.mp4");
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->sample_rate_hz, 16000);
  EXPECT_EQ(out->channels, 1);
  EXPECT_NEAR(out->duration_s(), kVideoSeconds, static_cast<double>(kAacFrame) / 16000);
  fs::remove_all(dir);
}

TEST(VideoAudio, BadAudioFilesAreClearErrors) {
  const fs::path dir = lipsync::testing::temp_dir();
  std::ofstream(dir / "garbage.wav") << std::string(2048, 'x');
  {  // a video with no audio stream
    auto silent = VideoWriter::create(dir / "silent.mp4", {.width = 320, .height = 240});
    ASSERT_TRUE(silent.ok());
    ASSERT_TRUE(silent->write_frame(grey_frame(0).view()).ok());
    ASSERT_TRUE(silent->finish().ok());
  }
  struct Case {
    fs::path file;
    const char* message;
  };
  for (const Case& c :
       {Case{dir / "missing.wav", "missing.wav"}, Case{dir / "garbage.wav", "garbage.wav"},
        Case{dir / "silent.mp4", "has no audio stream"}}) {
    auto writer = VideoWriter::create(dir / "out.mp4", {.width = 320, .height = 240});
    ASSERT_TRUE(writer.ok());
    auto added = writer->add_audio_file(c.file);
    ASSERT_FALSE(added.ok()) << c.file;
    EXPECT_NE(added.status().message().find(c.message), std::string::npos)
        << added.status().message();
  }
  // One audio track, added before the first frame.
  const auto mono = test_signal(0.5);
  ASSERT_TRUE(
      audio::testing::write_test_audio(dir / "in.wav", mono, {"pcm_s16le", ".wav", kRate}).ok());
  auto writer = VideoWriter::create(dir / "twice.mp4", {.width = 320, .height = 240});
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE(writer->add_audio_file(dir / "in.wav").ok());
  auto again = writer->add_audio_file(dir / "in.wav");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), ErrorCode::kFailedPrecondition);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace lipsync::media
