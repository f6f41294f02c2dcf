// Decoding any FFmpeg-readable audio to 16 kHz mono (issue 3, item 1), with files written in
// the test by FFmpeg's own encoders at 44.1 kHz stereo.
#include "audio/audio_decoder.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>

#include "audio/mel_spectrogram.h"
#include "core/npy.h"
#include "support/test_audio_writer.h"
#include "support/test_paths.h"

namespace lipsync::audio {
namespace {

// 3 s of speech from the sanders clip (from 2 s on).
std::vector<float> speech_excerpt() {
  auto array = read_npy(lipsync::testing::reference_dir() / "audio" / "sanders_audio_16k.npy");
  EXPECT_TRUE(array.ok());
  const std::vector<float> all = array->to_c_order<float>();
  return std::vector<float>(all.begin() + 32000, all.begin() + 80000);
}

struct MelDifference {
  double max_abs = 0.0;
  double mean_abs = 0.0;
};

// Normalised-mel difference over the frames both have, leaving out the last 2 (their
// right padding depends on the exact decoded length).
MelDifference mel_difference(std::span<const float> a, std::span<const float> b) {
  auto analyzer = MelAnalyzer::create();
  auto mel_a = (*analyzer)->compute(a);
  auto mel_b = (*analyzer)->compute(b);
  EXPECT_TRUE(mel_a.ok() && mel_b.ok());
  const std::size_t frames = std::min(mel_a->frame_count, mel_b->frame_count) - 2;
  MelDifference diff;
  for (std::size_t i = 0; i < frames * kMelBins; ++i) {
    const double d = std::abs(mel_a->values[i] - mel_b->values[i]);
    diff.max_abs = std::max(diff.max_abs, d);
    diff.mean_abs += d;
  }
  diff.mean_abs /= static_cast<double>(frames * kMelBins);
  return diff;
}

// Lag (in samples, within ±max_lag) that best aligns `decoded` with `original`.
int best_lag(std::span<const float> original, std::span<const float> decoded, int max_lag) {
  int best = 0;
  double best_score = -1e300;
  for (int lag = -max_lag; lag <= max_lag; ++lag) {
    double score = 0.0;
    for (std::size_t n = 2000; n < 22000; ++n) score += original[n] * decoded[n + lag];
    if (score > best_score) {
      best_score = score;
      best = lag;
    }
  }
  return best;
}

// Tolerances on the normalised mel (range [-4, 4]; 1 unit = 12.5 dB):
// - lossless (WAV int16/int24/float, FLAC): the only changes are two soxr resamplings
//   (16 -> 44.1 kHz in the test, back in the decoder), whose pass band ends near 7.3 kHz where the
//   top mel bands are, plus 16-bit quantisation: max 0.05, mean 0.002.
// - lossy (MP3, AAC, Opus): the codecs drop spectral detail under the masking threshold, so
//   single quiet bins move by up to ~20 dB while the bulk stays: the mean bound (0.035, under
//   0.5 dB) is the meaningful one; a wrong downmix gain (3 dB) or a misalignment fails it.
struct CodecCase {
  testing::TestAudioFormat format;
  double max_tolerance;   // max |Δ|
  double mean_tolerance;  // mean |Δ|
};

class DecodeRoundTripTest : public ::testing::TestWithParam<CodecCase> {};

TEST_P(DecodeRoundTripTest, DecodedMelMatchesTheOriginal) {
  const CodecCase& c = GetParam();
  if (!testing::encoder_available(c.format.encoder)) {
    GTEST_SKIP() << "FFmpeg has no encoder " << c.format.encoder;
  }
  const std::vector<float> original = speech_excerpt();
  const auto path = lipsync::testing::temp_dir() / ("speech" + c.format.extension);
  ASSERT_TRUE(testing::write_test_audio(path, original, c.format).ok());
  auto decoded = decode_audio_file(path);
  ASSERT_TRUE(decoded.ok()) << decoded.status().to_string();
  // Same start (encoder delay removed), same duration up to one codec frame of end padding
  // (AAC: 1024 samples at 44.1 kHz = 372 at 16 kHz; the others trim it).
  EXPECT_EQ(best_lag(original, *decoded, 1200), 0);
  EXPECT_GE(decoded->size() + 1, original.size());
  EXPECT_LE(decoded->size(), original.size() + 372);
  const MelDifference diff = mel_difference(original, *decoded);
  std::printf("%s %s @ %d Hz stereo: normalised mel max |delta| %.4f, mean |delta| %.5f\n",
              c.format.encoder.c_str(), c.format.extension.c_str(), c.format.sample_rate_hz,
              diff.max_abs, diff.mean_abs);
  EXPECT_LE(diff.max_abs, c.max_tolerance);
  EXPECT_LE(diff.mean_abs, c.mean_tolerance);
}

INSTANTIATE_TEST_SUITE_P(
    Codecs, DecodeRoundTripTest,
    ::testing::Values(CodecCase{{"pcm_s16le", ".wav", 44100, 0}, 0.05, 0.002},
                      CodecCase{{"pcm_s24le", ".wav", 44100, 0}, 0.05, 0.002},
                      CodecCase{{"pcm_f32le", ".wav", 44100, 0}, 0.05, 0.002},
                      CodecCase{{"flac", ".flac", 44100, 0}, 0.05, 0.002},
                      CodecCase{{"libmp3lame", ".mp3", 44100, 192000}, 0.6, 0.035},
                      CodecCase{{"aac", ".m4a", 44100, 192000}, 2.0, 0.035},
                      CodecCase{{"libopus", ".opus", 48000, 128000}, 0.6, 0.035}),
    [](const auto& info) { return info.param.format.encoder; });

TEST(ConvertPcmTest, StereoAt44kGivesTheOriginalMel) {
  const std::vector<float> original = speech_excerpt();
  auto stereo = testing::to_stereo(original, 44100);
  ASSERT_TRUE(stereo.ok());
  auto mono = convert_pcm(*stereo, 44100, 2);
  ASSERT_TRUE(mono.ok()) << mono.status().to_string();
  EXPECT_EQ(best_lag(original, *mono, 400), 0);
  const MelDifference diff = mel_difference(original, *mono);
  std::printf("float PCM 44.1 kHz stereo: normalised mel max |delta| %.4f, mean %.5f\n",
              diff.max_abs, diff.mean_abs);
  EXPECT_LE(diff.max_abs, 0.05);
  EXPECT_LE(diff.mean_abs, 0.002);
}

TEST(ConvertPcmTest, SixteenKilohertzMonoIsUnchanged) {
  const std::vector<float> original = speech_excerpt();
  auto same = convert_pcm(original, 16000, 1);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(*same, original);
}

TEST(ConvertPcmTest, BadParametersAreClearErrors) {
  const std::vector<float> pcm(1000, 0.1f);
  auto expect_error = [](const Result<std::vector<float>>& r, const std::string& text) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(text), std::string::npos) << r.status().message();
  };
  expect_error(convert_pcm(pcm, 0, 1), "sample rate 0 Hz");
  expect_error(convert_pcm(pcm, 10'000'000, 1), "sample rate 10000000 Hz");
  expect_error(convert_pcm(pcm, 16000, 0), "channel count 0");
  expect_error(convert_pcm(std::span(pcm).first(999), 16000, 2), "multiple of 2 channels");
  expect_error(convert_pcm({}, 16000, 1), "multiple");
  expect_error(convert_pcm(pcm, 8000, 1, DecodeOptions{.max_duration_s = 0.1}), "longer than");
  std::vector<float> nan = pcm;
  nan[500] = std::nanf("");
  expect_error(convert_pcm(nan, 16000, 1), "sample 500");
}

TEST(PcmStreamConverterTest, ChunkedEqualsOneShot) {
  const std::vector<float> original = speech_excerpt();
  auto stereo = testing::to_stereo(original, 44100);
  ASSERT_TRUE(stereo.ok());
  auto whole = convert_pcm(*stereo, 44100, 2);
  ASSERT_TRUE(whole.ok());
  auto converter = PcmStreamConverter::create(44100, 2);
  ASSERT_TRUE(converter.ok()) << converter.status().to_string();
  std::mt19937 rng(3);
  std::uniform_int_distribution<std::size_t> frames(0, 3000);
  std::vector<float> streamed;
  for (std::size_t at = 0; at < stereo->size();) {
    const std::size_t n = std::min(stereo->size() - at, 2 * (at < 20000 ? 1 : frames(rng)));
    ASSERT_TRUE(converter->push(std::span(*stereo).subspan(at, n), streamed).ok());
    at += n;
  }
  ASSERT_TRUE(converter->flush(streamed).ok());
  ASSERT_EQ(streamed.size(), whole->size());
  double worst = 0.0;
  for (std::size_t i = 0; i < streamed.size(); ++i) {
    worst = std::max(worst, static_cast<double>(std::abs(streamed[i] - (*whole)[i])));
  }
  std::printf("chunked vs one-shot 44.1 kHz stereo conversion: max |delta| %.3g\n", worst);
  EXPECT_LE(worst, 1e-6);
}

TEST(PcmStreamConverterTest, BadInputIsAClearError) {
  EXPECT_FALSE(PcmStreamConverter::create(0, 1).ok());
  EXPECT_FALSE(PcmStreamConverter::create(48000, 0).ok());
  auto converter = PcmStreamConverter::create(48000, 2);
  ASSERT_TRUE(converter.ok());
  std::vector<float> out;
  std::vector<float> chunk(9, 0.1f);
  auto odd = converter->push(chunk, out);
  ASSERT_FALSE(odd.ok());
  EXPECT_NE(odd.message().find("multiple of 2 channels"), std::string::npos);
  chunk.resize(8);
  chunk[5] = std::nanf("");
  EXPECT_FALSE(converter->push(chunk, out).ok());
  chunk[5] = 0.0f;
  ASSERT_TRUE(converter->push(chunk, out).ok());
  ASSERT_TRUE(converter->flush(out).ok());
  EXPECT_FALSE(converter->push(chunk, out).ok());
  EXPECT_FALSE(converter->flush(out).ok());
}

TEST(DecodeBytesTest, SameAsTheFile) {
  const std::vector<float> original = speech_excerpt();
  for (const testing::TestAudioFormat& format :
       {testing::TestAudioFormat{"pcm_s16le", ".wav", 44100, 0},
        testing::TestAudioFormat{"flac", ".flac", 44100, 0}}) {
    const auto path = lipsync::testing::temp_dir() / ("bytes" + format.extension);
    ASSERT_TRUE(testing::write_test_audio(path, original, format).ok());
    std::ifstream in(path, std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), {});
    const auto bytes = std::as_bytes(std::span(text.data(), text.size()));
    auto from_bytes = decode_audio_bytes(bytes, "upload");
    ASSERT_TRUE(from_bytes.ok()) << from_bytes.status().to_string();
    auto from_file = decode_audio_file(path);
    ASSERT_TRUE(from_file.ok());
    EXPECT_EQ(*from_bytes, *from_file) << format.encoder;
  }
  const std::string junk(3000, '\x11');
  auto bad = decode_audio_bytes(std::as_bytes(std::span(junk.data(), junk.size())), "upload 7");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("upload 7"), std::string::npos) << bad.status().message();
  EXPECT_FALSE(decode_audio_bytes({}, "empty upload").ok());
}

class BadFileTest : public ::testing::Test {
 protected:
  std::filesystem::path write_bytes(const std::string& name, const std::string& bytes) {
    const auto path = lipsync::testing::temp_dir() / name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  std::string wav_bytes(const std::vector<float>& samples, const std::string& encoder) {
    const auto path = lipsync::testing::temp_dir() / "source.wav";
    EXPECT_TRUE(testing::write_test_audio(path, samples, {encoder, ".wav", 44100, 0}).ok());
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
};

TEST_F(BadFileTest, MissingFileIsNotFound) {
  auto r = decode_audio_file(lipsync::testing::temp_dir() / "nope.wav");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(r.status().message().find("nope.wav"), std::string::npos);
}

TEST_F(BadFileTest, NonAudioFilesAreErrors) {
  for (const auto& [name, bytes] :
       {std::pair<std::string, std::string>{"notes.txt", "this is not audio at all\n"},
        {"empty.wav", ""},
        {"random.mp3", std::string(5000, '\x5a')}}) {
    auto r = decode_audio_file(write_bytes(name, bytes));
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_NE(r.status().message().find(name), std::string::npos) << r.status().message();
  }
}

TEST_F(BadFileTest, TruncatedFilesAreErrors) {
  const std::string wav = wav_bytes(speech_excerpt(), "pcm_s16le");
  // Cut inside the header; right after it (no samples); inside a sample in the middle of the
  // data (a partial packet the decoder rejects).
  for (std::size_t cut : {std::size_t{20}, std::size_t{44}, (wav.size() / 2) | 1}) {
    auto r = decode_audio_file(write_bytes("cut.wav", wav.substr(0, cut)));
    ASSERT_FALSE(r.ok()) << cut;
    EXPECT_NE(r.status().message().find("cut.wav"), std::string::npos) << r.status().message();
  }
}

TEST_F(BadFileTest, NonFiniteSamplesAreErrors) {
  std::vector<float> samples = speech_excerpt();
  for (std::size_t i = 10000; i < 10100; ++i) samples[i] = std::nanf("");
  auto r = decode_audio_file(write_bytes("nan.wav", wav_bytes(samples, "pcm_f32le")));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not finite"), std::string::npos) << r.status().message();
}

TEST_F(BadFileTest, TooLongIsAnError) {
  const auto path = write_bytes("long.wav", wav_bytes(speech_excerpt(), "pcm_s16le"));
  auto r = decode_audio_file(path, DecodeOptions{.max_duration_s = 1.0});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("longer than the limit"), std::string::npos)
      << r.status().message();
}

TEST_F(BadFileTest, NpyInputMustBeOneDimensionalFloat) {
  const auto path = lipsync::testing::temp_dir() / "two_d.npy";
  const std::vector<float> values(6, 0.5f);
  ASSERT_TRUE(write_npy(path, values, {2, 3}).ok());
  auto r = load_audio(path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("1-D"), std::string::npos);
  const auto ok_path = lipsync::testing::temp_dir() / "one_d.npy";
  ASSERT_TRUE(write_npy(ok_path, values, {6}).ok());
  auto ok = load_audio(ok_path);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, values);
}

}  // namespace
}  // namespace lipsync::audio
