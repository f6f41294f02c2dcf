// `lipsync render` end to end on the bundled demo: the MP4 has the expected streams and frame
// count, the mouth follows the audio with no lag (the whole timing chain: decoding, windows,
// look-ahead, sequencing, muxing), and bad input fails cleanly without leaving files behind.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "audio/audio_decoder.h"
#include "imaging/crop_rects.h"
#include "imaging/frame_sequence.h"
#include "imaging/model_geometry.h"
#include "media/video_decoder.h"
#include "run_cli.h"
#include "support/audio_probe.h"
#include "support/test_paths.h"

namespace lipsync {
namespace {

namespace fs = std::filesystem;

using testing::run_cli;
using testing::RunResult;

const fs::path kDemo = LIPSYNC_DEMO_DIR;

// Mean darkness (255 - grey) around the demo face's mouth in a decoded output frame.
double mouth_darkness(const Image& frame, const Rect& rect) {
  const auto& g = imaging::kSyncTalk328;
  const double scale = static_cast<double>(rect.width()) / g.crop_size_px;
  const int cx = static_cast<int>(rect.x1 + (160 + g.border_px) * scale);  // make_demo_models.py
  const int cy = static_cast<int>(rect.y1 + (224 + g.border_px) * scale);
  double sum = 0;
  int count = 0;
  for (int y = cy - 30; y <= cy + 30; ++y) {
    for (int x = cx - 30; x <= cx + 30; ++x) {
      const std::uint8_t* p =
          frame.pixels.data() + (static_cast<std::size_t>(y) * frame.width + x) * 3;
      sum += 255.0 - (p[0] + p[1] + p[2]) / 3.0;
      ++count;
    }
  }
  return sum / count;
}

double correlation(const std::vector<double>& a, const std::vector<double>& b, int lag) {
  // Pearson correlation of a[i] with b[i - lag] over the overlap.
  std::vector<double> x, y;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const long j = static_cast<long>(i) - lag;
    if (j >= 0 && j < static_cast<long>(b.size())) {
      x.push_back(a[i]);
      y.push_back(b[static_cast<std::size_t>(j)]);
    }
  }
  const double n = static_cast<double>(x.size());
  double mx = 0, my = 0;
  for (std::size_t i = 0; i < x.size(); ++i) mx += x[i] / n, my += y[i] / n;
  double sxy = 0, sxx = 0, syy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  return sxy / std::sqrt(sxx * syy);
}

class RenderDemo : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(testing::temp_dir());
    result_ = new RunResult(
        run_cli({"render", "--progress", "always", "-o", (*dir_ / "demo.mp4").string()}, *dir_));
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
    delete result_;
  }
  static fs::path* dir_;
  static RunResult* result_;
};
fs::path* RenderDemo::dir_ = nullptr;
RunResult* RenderDemo::result_ = nullptr;

TEST_F(RenderDemo, WritesH264At25FpsWithAacOfTheSameLength) {
  ASSERT_EQ(result_->exit_code, 0) << result_->output;
  EXPECT_NE(result_->output.find("frames/s"), std::string::npos) << result_->output;
  auto speech = audio::load_audio(kDemo / "speech.wav");
  ASSERT_TRUE(speech.ok());
  std::int64_t frames = 0;
  auto info = media::decode_video(*dir_ / "demo.mp4", [&](std::int64_t, Image&&) {
    ++frames;
    return Status{};
  });
  ASSERT_TRUE(info.ok()) << info.status().to_string();
  EXPECT_EQ(info->codec, "h264");
  EXPECT_DOUBLE_EQ(info->fps, 25.0);
  // n + 2 frames (pipeline.md §2) for M = 1 + floor(samples / 200) mel frames.
  const std::size_t mel = 1 + speech->size() / 200;
  EXPECT_EQ(frames, static_cast<std::int64_t>((mel - 16) * 25 / 80 + 4));
  auto muxed = audio::decode_audio_file(*dir_ / "demo.mp4");
  ASSERT_TRUE(muxed.ok()) << muxed.status().to_string();
  const double audio_s = muxed->size() / 16000.0;
  EXPECT_NEAR(audio_s, frames / 25.0, 1.0 / 25) << "audio " << audio_s << " s";
  // The speech's own sound (espeak-ng writes 22.05 kHz mono), not the 16 kHz model input.
  auto sound = media::testing::probe_audio(*dir_ / "demo.mp4");
  auto original = media::testing::probe_audio(kDemo / "speech.wav");
  ASSERT_TRUE(sound.ok() && original.ok());
  EXPECT_EQ(sound->codec, "aac");
  EXPECT_EQ(sound->sample_rate_hz, original->sample_rate_hz);
  EXPECT_EQ(sound->channels, original->channels);
}

// `--progress always` off a terminal: each step before the first frame on a line of its own,
// then frame lines with percent, frames/s, elapsed time and ETA, ending at 100%.
TEST_F(RenderDemo, ProgressNamesEachStepThenPercentElapsedAndEta) {
  ASSERT_EQ(result_->exit_code, 0) << result_->output;
  const std::string& out = result_->output;
  std::size_t at = 0;
  for (const char* step :
       {"reading the audio", "loading the audio encoder",
        "loading the UNet and the avatar's frames", "computing the audio features", "  0% 0/"}) {
    const std::size_t found = out.find(step, at);
    ASSERT_NE(found, std::string::npos) << "no '" << step << "' after the previous step:\n" << out;
    at = found;
  }
  const std::size_t last = out.find("100% ", at);
  ASSERT_NE(last, std::string::npos) << out;
  const std::string line = out.substr(last, out.find('\n', last) - last);
  EXPECT_NE(line.find(" frames/s, elapsed "), std::string::npos) << line;
  EXPECT_NE(line.find(", ETA 0:00"), std::string::npos) << line;
  EXPECT_EQ(out.find('\r'), std::string::npos) << "not a terminal: lines, not rewrites";
}

TEST_F(RenderDemo, MouthFollowsLoudnessWithNoLag) {
  ASSERT_EQ(result_->exit_code, 0) << result_->output;
  auto rects = imaging::read_rects(kDemo / "crop_rects.json");
  auto speech = audio::load_audio(kDemo / "speech.wav");
  ASSERT_TRUE(rects.ok() && speech.ok());
  std::vector<double> darkness;
  auto info = media::decode_video(*dir_ / "demo.mp4", [&](std::int64_t i, Image&& frame) {
    const auto source = imaging::source_frame_index(imaging::SequenceMode::kPingPong, i,
                                                    static_cast<std::int64_t>(rects->size()));
    darkness.push_back(mouth_darkness(frame, (*rects)[static_cast<std::size_t>(source)]));
    return Status{};
  });
  ASSERT_TRUE(info.ok());
  std::vector<double> loudness;  // RMS of each frame's 40 ms
  for (std::size_t i = 0; i < darkness.size(); ++i) {
    double sum = 0;
    for (std::size_t n = i * 640; n < std::min(speech->size(), (i + 1) * 640); ++n) {
      sum += (*speech)[n] * (*speech)[n];
    }
    loudness.push_back(std::sqrt(sum / 640));
  }
  int best_lag = 0;
  double best = -2;
  for (int lag = -6; lag <= 6; ++lag) {
    const double c = correlation(darkness, loudness, lag);
    if (c > best) best = c, best_lag = lag;
  }
  EXPECT_LE(std::abs(best_lag), 1) << "correlation peak at lag " << best_lag;
  EXPECT_GT(best, 0.5) << "the mouth does not follow the audio";
}

TEST(RenderErrors, BadInputFailsCleanlyAndLeavesNoFile) {
  const fs::path dir = testing::temp_dir();
  const std::string out = (dir / "x.mp4").string();
  std::ofstream(dir / "not_audio.wav") << "this is not audio";
  std::ofstream(dir / "server.yaml") << "models: {}\n";
  struct Case {
    std::vector<std::string> args;
    const char* message;
  };
  const std::vector<Case> cases = {
      {{"render", "--audio", (dir / "missing.wav").string(), "-o", out}, "missing.wav"},
      {{"render", "--audio", (dir / "not_audio.wav").string(), "-o", out}, "not_audio.wav"},
      {{"render", "--config", (dir / "server.yaml").string(), "--model", "nobody", "-o", out},
       "'nobody' is not configured"},
      {{"render", "-o", (dir / "no" / "such" / "dir" / "x.mp4").string()}, "does not exist"},
      {{"render", "-o", (dir / "x.avi").string()}, ".mp4"},
      {{"render", "--progress", "sometimes", "-o", out}, "auto|always|never"},
      {{"render", "--frame-format", "png", "-o", out}, "PNG frames go into a folder"},
  };
  for (const auto& c : cases) {
    const RunResult r = run_cli(c.args, dir);
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << r.output;
    // --progress auto (the default) is silent off a terminal.
    EXPECT_EQ(r.output.find("reading the audio"), std::string::npos) << r.output;
  }
  for (const auto& entry : fs::directory_iterator(dir)) {
    const auto name = entry.path().filename().string();
    EXPECT_TRUE(name == "not_audio.wav" || name == "server.yaml") << name;
  }
  fs::remove_all(dir);
}

// The registry's advice is for a server's operator; render's model comes from its flags.
TEST(RenderErrors, AModelThatDoesNotLoadNamesTheFileNotAServerConfiguration) {
  const fs::path dir = testing::temp_dir();
  std::ofstream(dir / "unet.onnx") << "this is not a model";
  const RunResult r = run_cli(
      {"render", "--unet", (dir / "unet.onnx").string(), "-o", (dir / "x.mp4").string()}, dir);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("error: cannot load the model: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find((dir / "unet.onnx").string()), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("server's configuration"), std::string::npos) << r.output;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace lipsync
