// What `render` (and `serve`, through the same model loader) refuses before loading, instead of
// rendering it silently wrong: a source video that is not 25 fps, rects crossing the frame
// border (rects of another video, or a face at the edge), each with what to do and the flag or
// key that accepts it; a bad output path before the models load; a source of odd width and height
// rendered to MP4 (one pixel wider and taller, the last column and row repeated); and Ctrl-C
// (SIGINT) or SIGTERM in the middle of a render leaves no `*.partial-PID` behind.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <thread>

#include "core/npy.h"
#include "imaging/crop_rects.h"
#include "imaging/frame_sequence.h"
#include "media/image_file.h"
#include "media/image_folder.h"
#include "media/video_decoder.h"
#include "media/video_writer.h"
#include "run_cli.h"
#include "support/test_paths.h"

namespace lipsync {
namespace {

namespace fs = std::filesystem;
using testing::run_cli;
using testing::RunResult;

const fs::path kDemo = LIPSYNC_DEMO_DIR;
constexpr int kFrames = 6;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

fs::path model(const std::string& name) {
  return testing::test_models_dir() / name;
}

// `width`x`height` pixels of `frame` from (x0, y0).
Image cut(const Image& frame, int x0, int y0, int width, int height) {
  Image part(width, height);
  for (int y = 0; y < height; ++y) {
    std::copy_n(frame.view().row(y0 + y) + static_cast<std::size_t>(x0) * 3, part.stride(),
                part.pixels.data() + static_cast<std::size_t>(y) * part.stride());
  }
  return part;
}

// The demo avatar's first frames, cut to `width` columns (the full width when 0).
std::vector<Image> demo_frames(int width = 0) {
  std::vector<Image> frames;
  auto decoder = media::VideoDecoder::open(kDemo / "avatar.mp4");
  EXPECT_TRUE(decoder.ok()) << decoder.status().to_string();
  Image frame;
  while (frames.size() < kFrames) {
    auto got = decoder->next(&frame);
    if (!got.ok() || !*got) break;
    const bool whole = width <= 0 || width >= frame.width;
    frames.push_back(whole ? frame : cut(frame, 0, 0, width, frame.height));
  }
  return frames;
}

std::vector<Rect> demo_rects() {
  auto rects = imaging::read_rects(kDemo / "crop_rects.json");
  EXPECT_TRUE(rects.ok());
  return {rects->begin(), rects->begin() + kFrames};
}

// An avatar folder: `person.mp4` at `fps` and crop_rects.json.
fs::path write_avatar(const fs::path& dir, const std::vector<Image>& frames,
                      const std::vector<Rect>& rects, int fps) {
  fs::create_directories(dir);
  auto writer = media::VideoWriter::create(
      dir / "person.mp4",
      {.width = frames[0].width, .height = frames[0].height, .fps = fps, .crf = 12});
  EXPECT_TRUE(writer.ok()) << writer.status().to_string();
  for (const Image& frame : frames) EXPECT_TRUE(writer->write_frame(frame.view()).ok());
  EXPECT_TRUE(writer->finish().ok());
  EXPECT_TRUE(imaging::write_rects_json(dir / "crop_rects.json", rects).ok());
  return dir;
}

fs::path write_speech(const fs::path& path, double seconds) {
  std::vector<float> samples(static_cast<std::size_t>(seconds * 16000));
  for (std::size_t n = 0; n < samples.size(); ++n) {
    samples[n] = static_cast<float>(0.3 * std::sin(n * 0.05) * (0.5 + 0.5 * std::sin(n * 1e-3)));
  }
  EXPECT_TRUE(write_npy(path, samples, {samples.size()}).ok());
  return path;
}

std::vector<std::string> render_args(const fs::path& avatar, const fs::path& speech,
                                     const fs::path& out) {
  return {"render",
          "--avatar",
          avatar,
          "--audio",
          speech,
          "--unet",
          model("demo_unet.onnx"),
          "--encoder",
          model("demo_encoder.onnx"),
          "-o",
          out.string(),
          "--threads",
          "1"};
}

// Whatever in `dir` starts with `prefix` (the output, or its `.partial-PID`).
std::vector<std::string> entries_named(const fs::path& dir, const std::string& prefix) {
  std::vector<std::string> found;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with(prefix)) found.push_back(name);
  }
  return found;
}

class RenderSource : public ::testing::Test {
 protected:
  void SetUp() override {
    work_ = testing::temp_dir();
    speech_ = write_speech(work_ / "speech.npy", 0.5);
  }
  void TearDown() override { fs::remove_all(work_); }
  fs::path work_;
  fs::path speech_;
};

TEST_F(RenderSource, VideoNot25FpsIsRefusedWithTheConversionUnlessAccepted) {
  const fs::path avatar = write_avatar(work_ / "fast", demo_frames(), demo_rects(), 30);
  const RunResult refused = run_cli(render_args(avatar, speech_, work_ / "out.mp4"), work_);
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_TRUE(contains(refused.output, "runs at 30.000 fps, the model at 25")) << refused.output;
  EXPECT_TRUE(contains(refused.output, "0.83x speed")) << refused.output;
  EXPECT_TRUE(contains(refused.output, "-vf fps=25")) << refused.output;
  EXPECT_TRUE(contains(refused.output, "--accept-any-fps")) << refused.output;
  EXPECT_TRUE(entries_named(work_, "out").empty());

  auto args = render_args(avatar, speech_, work_ / "out.mp4");
  args.push_back("--accept-any-fps");
  const RunResult accepted = run_cli(args, work_);
  EXPECT_EQ(accepted.exit_code, 0) << accepted.output;
  EXPECT_TRUE(fs::is_regular_file(work_ / "out.mp4"));

  // The server's configuration says the same with a key (the model loader of `serve`).
  std::ofstream(work_ / "server.yaml")
      << "onnx:\n  audio_encoder_path: " << model("demo_encoder.onnx").string()
      << "\nmodels:\n  fast:\n    model_path: " << model("demo_unet.onnx").string()
      << "\n    source_video: " << (avatar / "person.mp4").string()
      << "\n    crop_rects_path: " << (avatar / "crop_rects.json").string()
      << "\n    accept_any_fps: ";
  const std::vector<std::string> from_config = {
      "render",         "--config", (work_ / "server.yaml").string(), "--model", "fast", "--audio",
      speech_.string(), "-o",       (work_ / "config.mp4").string()};
  std::ofstream(work_ / "server.yaml", std::ios::app) << "false\n";
  const RunResult config_refused = run_cli(from_config, work_);
  EXPECT_EQ(config_refused.exit_code, 1) << config_refused.output;
  EXPECT_TRUE(contains(config_refused.output, "models.<id>.accept_any_fps: true"))
      << config_refused.output;
  std::string yaml;
  {
    std::ifstream in(work_ / "server.yaml");
    yaml.assign(std::istreambuf_iterator<char>(in), {});
  }
  yaml.replace(yaml.rfind("false"), 5, "true");
  std::ofstream(work_ / "server.yaml") << yaml;
  const RunResult config_accepted = run_cli(from_config, work_);
  EXPECT_EQ(config_accepted.exit_code, 0) << config_accepted.output;
}

TEST_F(RenderSource, RectsOfAnotherVideoSizeAreRefused) {
  // A 600-pixel-wide cut of the 1280-wide demo with the demo's rects (x up to ~800): every
  // rect crosses the right border, as landscape rects on a portrait video do.
  const fs::path avatar = write_avatar(work_ / "narrow", demo_frames(600), demo_rects(), 25);
  const RunResult r = run_cli(render_args(avatar, speech_, work_ / "out.mp4"), work_);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "6 of the 6 rects")) << r.output;
  EXPECT_TRUE(contains(r.output, "cross the border of the 600x")) << r.output;
  EXPECT_TRUE(contains(r.output, "made for frames of another size")) << r.output;
  EXPECT_TRUE(contains(r.output, "lipsync avatar rects")) << r.output;
  EXPECT_TRUE(entries_named(work_, "out").empty());
}

TEST_F(RenderSource, ARectAtTheFrameEdgeIsRefusedUnlessAccepted) {
  std::vector<Rect> rects = demo_rects();
  const int shift = rects[2].y1 + 20;  // frame 2's face reaches 20 pixels above the frame
  rects[2].y1 -= shift;
  rects[2].y2 -= shift;
  const fs::path avatar = write_avatar(work_ / "edge", demo_frames(), rects, 25);
  const RunResult refused = run_cli(render_args(avatar, speech_, work_ / "out/"), work_);
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_TRUE(contains(refused.output, "1 of the 6 rects")) << refused.output;
  EXPECT_TRUE(contains(refused.output, "frame 2 [")) << refused.output;
  EXPECT_TRUE(contains(refused.output, "reaches the frame's edge")) << refused.output;
  EXPECT_TRUE(contains(refused.output, "--accept-rects-outside-frame")) << refused.output;

  auto args = render_args(avatar, speech_, work_ / "out/");
  args.push_back("--accept-rects-outside-frame");
  const RunResult accepted = run_cli(args, work_);
  EXPECT_EQ(accepted.exit_code, 0) << accepted.output;
  EXPECT_FALSE(fs::is_empty(work_ / "out"));
}

TEST_F(RenderSource, BadOutputPathIsSaidBeforeAnythingLoads) {
  // The UNet does not exist either: the output's error comes first, so it was checked first.
  const fs::path avatar = write_avatar(work_ / "ok", demo_frames(), demo_rects(), 25);
  auto args = render_args(avatar, speech_, work_ / "missing" / "out.mp4");
  args[6] = (work_ / "no_unet.onnx").string();
  ASSERT_EQ(args[5], "--unet");
  const auto start = std::chrono::steady_clock::now();
  const RunResult r = run_cli(args, work_);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "folder '" + (work_ / "missing").string() + "' does not exist"))
      << r.output;
  EXPECT_FALSE(contains(r.output, "no_unet")) << r.output;
  EXPECT_LT(seconds, 5.0);

  args = render_args(avatar, speech_, work_ / "out.avi");
  const RunResult wrong_kind = run_cli(args, work_);
  EXPECT_EQ(wrong_kind.exit_code, 1);
  EXPECT_TRUE(contains(wrong_kind.output, "name an .mp4 file or a folder ending in '/'"))
      << wrong_kind.output;
}

// An avatar of odd width and height (issue 16): a 641x361 window of the demo's frames around
// the face as numbered PNGs (lossless, so the test knows every source pixel) and the demo's
// rects moved into it. The window's frames go to `frames`.
constexpr int kOddWidth = 641;
constexpr int kOddHeight = 361;

fs::path write_odd_avatar(const fs::path& dir, std::vector<Image>* frames) {
  constexpr int kX0 = 320;  // the first frames' faces lie in x 490..794, y 187..488
  constexpr int kY0 = 150;
  fs::create_directories(dir / "frames");
  for (const Image& frame : demo_frames()) {
    frames->push_back(cut(frame, kX0, kY0, kOddWidth, kOddHeight));
    const auto name = media::frame_file_name(static_cast<std::int64_t>(frames->size()) - 1, ".png");
    EXPECT_TRUE(media::write_image(dir / "frames" / name, frames->back().view()).ok());
  }
  std::vector<Rect> rects = demo_rects();
  for (Rect& r : rects) r = {r.x1 - kX0, r.y1 - kY0, r.x2 - kX0, r.y2 - kY0};
  EXPECT_TRUE(imaging::write_rects_json(dir / "crop_rects.json", rects).ok());
  return dir;
}

// Mean absolute difference, over rows 0..kOddHeight-1 and the 3 channels, of column `xa` of `a`
// and column `xb` of `b`.
double column_difference(const Image& a, int xa, const Image& b, int xb) {
  double sum = 0;
  for (int y = 0; y < kOddHeight; ++y) {
    for (int c = 0; c < 3; ++c) {
      sum += std::abs(a.view().row(y)[xa * 3 + c] - b.view().row(y)[xb * 3 + c]);
    }
  }
  return sum / (kOddHeight * 3);
}

// The same over columns 0..kOddWidth (the added column's corner included) of row `ya` of `a`
// (an output-sized frame) and row `yb` of `b`; where `b` is a source frame, one column
// narrower, its last column stands in for the added one.
double row_difference(const Image& a, int ya, const Image& b, int yb) {
  double sum = 0;
  for (int x = 0; x <= kOddWidth; ++x) {
    const int xb = std::min(x, b.width - 1);
    for (int c = 0; c < 3; ++c) {
      sum += std::abs(a.view().row(ya)[x * 3 + c] - b.view().row(yb)[xb * 3 + c]);
    }
  }
  return sum / ((kOddWidth + 1) * 3);
}

// Issue 16 end to end: odd-sized frames to `-o OUT.mp4` give an H.264 file one pixel wider and
// taller whose added column and row repeat the last ones, and no partial file is left behind.
TEST_F(RenderSource, OddSizedAvatarRendersToMp4WithTheLastColumnAndRowRepeated) {
  std::vector<Image> sources;
  const fs::path avatar = write_odd_avatar(work_ / "odd", &sources);
  ASSERT_EQ(sources.size(), kFrames);
  const fs::path speech = write_speech(work_ / "one_second.npy", 1.0);
  const RunResult r = run_cli(render_args(avatar, speech, work_ / "odd.mp4"), work_);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const auto& entry : fs::directory_iterator(work_)) {
    EXPECT_FALSE(contains(entry.path().filename().string(), ".partial")) << entry.path();
  }
  std::vector<Image> decoded;
  auto info = media::decode_video(work_ / "odd.mp4", [&](std::int64_t, Image&& frame) {
    decoded.push_back(std::move(frame));
    return Status{};
  });
  ASSERT_TRUE(info.ok()) << info.status().to_string();
  EXPECT_EQ(info->codec, "h264");
  EXPECT_DOUBLE_EQ(info->fps, 25.0);
  ASSERT_EQ(info->width, kOddWidth + 1);
  ASSERT_EQ(info->height, kOddHeight + 1);
  // 16000 samples: M = 81 mel frames, n = int((81 - 16) / 80 * 25) + 2 = 22 encoder windows and
  // n + 2 frames (rendering.md, "How many frames").
  EXPECT_EQ(decoded.size(), 24u);

  // The added column (row) against the frame's last one and against the source's last one,
  // within x264's error at the default CRF; a black column would differ by the source's edge
  // brightness, which the first check makes sure is far above that tolerance.
  constexpr double kCodecTolerance = 4.0;
  const Image black(kOddWidth + 1, kOddHeight + 1);
  for (std::size_t i = 0; i < decoded.size(); ++i) {
    const Image& out = decoded[i];
    const Image& source = sources[static_cast<std::size_t>(imaging::source_frame_index(
        imaging::SequenceMode::kPingPong, static_cast<std::int64_t>(i), kFrames))];
    SCOPED_TRACE(fmt::format("output frame {}", i));
    ASSERT_GT(column_difference(black, kOddWidth, source, kOddWidth - 1), 8 * kCodecTolerance);
    ASSERT_GT(row_difference(black, kOddHeight, source, kOddHeight - 1), 8 * kCodecTolerance);
    EXPECT_LT(column_difference(out, kOddWidth, out, kOddWidth - 1), kCodecTolerance);
    EXPECT_LT(column_difference(out, kOddWidth, source, kOddWidth - 1), kCodecTolerance);
    EXPECT_LT(row_difference(out, kOddHeight, out, kOddHeight - 1), kCodecTolerance);
    EXPECT_LT(row_difference(out, kOddHeight, source, kOddHeight - 1), kCodecTolerance);
  }
}

// Starts `lipsync render` of the demo to `out` (a folder when it ends in '/'), waits for its
// `.partial-PID` output to appear, sends `signal_number` and checks that the process ends by it
// and leaves nothing named like the output.
void interrupt_render(const fs::path& work, const fs::path& speech, const std::string& out,
                      int signal_number) {
  const std::string out_name =
      fs::path(out).parent_path().empty() ? out : fs::path(out).parent_path().filename().string();
  const fs::path log = work / "render.log";
  const int pid = testing::start_cli(
      {"render", "--video", (kDemo / "avatar.mp4").string(), "--rects",
       (kDemo / "crop_rects.json").string(), "--unet", model("demo_unet.onnx").string(),
       "--encoder", model("demo_encoder.onnx").string(), "--audio", speech.string(), "-o",
       (work / out).string(), "--threads", "1"},
      log);
  ASSERT_GT(pid, 0);
  const std::string partial = fmt::format("{}.partial-{}", out_name, pid);
  bool seen = false;
  for (int i = 0; i < 1200 && !seen; ++i) {  // up to 2 min on a loaded machine
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    seen = fs::exists(work / partial);
    int status = 0;
    if (!seen && waitpid(pid, &status, WNOHANG) == pid) {
      FAIL() << "render ended before its output appeared";
    }
  }
  ASSERT_TRUE(seen) << "no " << partial;
  ASSERT_EQ(::kill(pid, signal_number), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  std::ifstream in(log);
  const std::string output{std::istreambuf_iterator<char>(in), {}};
  ASSERT_TRUE(WIFSIGNALED(status)) << "exit status " << status << "\n" << output;
  EXPECT_EQ(WTERMSIG(status), signal_number);
  EXPECT_TRUE(contains(output, "removing the unfinished output")) << output;
  EXPECT_TRUE(entries_named(work, out_name).empty())
      << "left behind: " << fmt::format("{}", fmt::join(entries_named(work, out_name), ", "));
}

TEST_F(RenderSource, InterruptedRenderLeavesNoPartialOutput) {
  const fs::path speech = write_speech(work_ / "long.npy", 120.0);  // minutes of rendering
  interrupt_render(work_, speech, "frames/", SIGINT);  // JPEG folder: frames.partial-PID/
  interrupt_render(work_, speech, "video.mp4", SIGTERM);
}

}  // namespace
}  // namespace lipsync
