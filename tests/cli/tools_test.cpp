// The `lipsync` binary on small inputs: `render --avatar DIR` folder discovery with the
// original sound in the MP4, `features`, and the `bench` subcommands (smoke runs whose JSON is
// checked, and one bad input each).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "audio/audio_decoder.h"
#include "audio/mel_spectrogram.h"
#include "core/npy.h"
#include "imaging/crop_rects.h"
#include "imaging/frame_sequence.h"
#include "media/image_folder.h"
#include "media/jpeg_codec.h"
#include "media/video_decoder.h"
#include "media/video_writer.h"
#include "run_cli.h"
#include "support/audio_probe.h"
#include "support/test_audio_writer.h"
#include "support/test_paths.h"

namespace lipsync {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using testing::run_cli;
using testing::RunResult;

const fs::path kDemo = LIPSYNC_DEMO_DIR;
constexpr int kAvatarFrames = 8;

// Speech-like 16 kHz mono: a gliding tone under a syllable-rate envelope.
std::vector<float> speechlike(double seconds) {
  std::vector<float> out(static_cast<std::size_t>(seconds * 16000));
  for (std::size_t n = 0; n < out.size(); ++n) {
    const double t = static_cast<double>(n) / 16000;
    out[n] = static_cast<float>(0.3 * (0.5 + 0.5 * std::sin(2 * M_PI * 4 * t)) *
                                std::sin(2 * M_PI * (200 + 60 * t) * t));
  }
  return out;
}

// 44.1 kHz stereo 16-bit WAV of speechlike(seconds).
fs::path write_wav(const fs::path& path, double seconds) {
  EXPECT_TRUE(
      audio::testing::write_test_audio(path, speechlike(seconds), {"pcm_s16le", ".wav", 44100})
          .ok());
  return path;
}

fs::path model(const std::string& name) {
  return testing::test_models_dir() / name;
}

// The first frames of the demo avatar and their crop rects.
struct AvatarFrames {
  std::vector<Image> frames;
  std::vector<Rect> rects;
};

// Frame i's mark: a red square in the top band (far from the face) at x = 16 + 48·i.
constexpr int kMarkPx = 32;
Rect mark_rect(int i) {
  return {16 + 48 * i, 16, 16 + 48 * i + kMarkPx, 16 + kMarkPx};
}

void paint_mark(Image& frame, int i) {
  const Rect r = mark_rect(i);
  for (int y = r.y1; y < r.y2; ++y) {
    for (int x = r.x1; x < r.x2; ++x) {
      std::uint8_t* p = frame.pixels.data() + (static_cast<std::size_t>(y) * frame.width + x) * 3;
      p[0] = 0, p[1] = 0, p[2] = 255;  // BGR
    }
  }
}

bool has_mark(const Image& frame, int i) {
  const Rect r = mark_rect(i);
  const int x = (r.x1 + r.x2) / 2, y = (r.y1 + r.y2) / 2;
  const std::uint8_t* p = frame.pixels.data() + (static_cast<std::size_t>(y) * frame.width + x) * 3;
  return p[2] > 180 && p[1] < 80 && p[0] < 80;
}

// The demo avatar's first frames, each marked with its index (so that the output shows which
// source frame it was rendered on).
AvatarFrames demo_avatar_frames() {
  AvatarFrames avatar;
  auto decoder = media::VideoDecoder::open(kDemo / "avatar.mp4");
  EXPECT_TRUE(decoder.ok()) << decoder.status().to_string();
  Image frame;
  while (avatar.frames.size() < kAvatarFrames) {
    auto got = decoder->next(&frame);
    if (!got.ok() || !*got) break;
    paint_mark(frame, static_cast<int>(avatar.frames.size()));
    avatar.frames.push_back(frame);
  }
  auto rects = imaging::read_rects(kDemo / "crop_rects.json");
  EXPECT_TRUE(rects.ok());
  avatar.rects.assign(rects->begin(), rects->begin() + kAvatarFrames);
  return avatar;
}

void write_file(const fs::path& path, std::span<const std::uint8_t> bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

std::vector<std::string> render_args(const fs::path& avatar, const fs::path& audio,
                                     const fs::path& out) {
  std::vector<std::string> args{"render", "--avatar", avatar.string(), "--audio", audio.string()};
  for (const char* name : {"unet", "encoder"}) {
    args.push_back(std::string("--") + name);
    args.push_back(model(std::string("demo_") + name + ".onnx").string());
  }
  args.insert(args.end(), {"-o", out.string()});
  return args;
}

// 1 s of speech: a 44.1 kHz stereo WAV, or a .npy of 16 kHz mono samples (no stream to keep).
enum class Speech { kWav, kNpy };

fs::path write_speech(const fs::path& dir, Speech kind) {
  if (kind == Speech::kWav) return write_wav(dir / "speech.wav", 1.0);
  const auto samples = speechlike(1.0);
  EXPECT_TRUE(write_npy(dir / "speech.npy", samples, {samples.size()}).ok());
  return dir / "speech.npy";
}

// Renders an avatar folder and checks the MP4: the folder's frames, the speech's own sound.
void expect_rendered_from(const fs::path& avatar_dir, const AvatarFrames& avatar, Speech speech,
                          const fs::path& work) {
  const fs::path out = work / "out.mp4";
  const RunResult r = run_cli(render_args(avatar_dir, write_speech(work, speech), out), work);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::vector<Image> frames;
  auto info = media::decode_video(out, [&](std::int64_t, Image&& frame) {
    frames.push_back(std::move(frame));
    return Status();
  });
  ASSERT_TRUE(info.ok()) << info.status().to_string();
  // n + 2 frames for 1 s (pipeline.md §2): M = 81 mel frames -> (81 - 16) * 25 / 80 + 4.
  ASSERT_EQ(frames.size(), 24u);
  EXPECT_EQ(info->width, avatar.frames[0].width);
  EXPECT_EQ(info->height, avatar.frames[0].height);
  // Each output frame shows the folder's frame of the default ping-pong order, and no other.
  for (std::size_t k = 0; k < frames.size(); ++k) {
    const auto source = imaging::source_frame_index(imaging::SequenceMode::kPingPong,
                                                    static_cast<std::int64_t>(k), kAvatarFrames);
    for (int i = 0; i < kAvatarFrames; ++i) {
      EXPECT_EQ(has_mark(frames[k], i), i == source) << "output frame " << k << ", mark " << i;
    }
  }
  auto sound = media::testing::probe_audio(out);
  ASSERT_TRUE(sound.ok()) << sound.status().to_string();
  const int rate = speech == Speech::kWav ? 44100 : 16000;
  EXPECT_EQ(sound->codec, "aac");
  EXPECT_EQ(sound->sample_rate_hz, rate);
  EXPECT_EQ(sound->channels, speech == Speech::kWav ? 2 : 1);
  EXPECT_NEAR(sound->duration_s(), 24 / 25.0, 1024.0 / rate);
}

TEST(CliRender, AvatarFolderWithFramesSubfolderAndCropRects) {
  const fs::path work = testing::temp_dir();
  const AvatarFrames avatar = demo_avatar_frames();
  fs::create_directories(work / "avatar" / "frames");
  for (std::size_t i = 0; i < avatar.frames.size(); ++i) {
    auto jpeg = media::encode_jpeg(avatar.frames[i].view(), {.quality = 95});
    ASSERT_TRUE(jpeg.ok());
    write_file(work / "avatar" / "frames" / media::frame_file_name(static_cast<std::int64_t>(i)),
               *jpeg);
  }
  ASSERT_TRUE(imaging::write_rects_json(work / "avatar" / "crop_rects.json", avatar.rects).ok());
  expect_rendered_from(work / "avatar", avatar, Speech::kWav, work);
  fs::remove_all(work);
}

TEST(CliRender, AvatarFolderWithVideoAndCropRectsAndNpySpeech) {
  const fs::path work = testing::temp_dir();
  const AvatarFrames avatar = demo_avatar_frames();
  fs::create_directories(work / "avatar");
  auto writer = media::VideoWriter::create(
      work / "avatar" / "person.mp4",
      {.width = avatar.frames[0].width, .height = avatar.frames[0].height, .crf = 12});
  ASSERT_TRUE(writer.ok());
  for (const Image& frame : avatar.frames) ASSERT_TRUE(writer->write_frame(frame.view()).ok());
  ASSERT_TRUE(writer->finish().ok());
  ASSERT_TRUE(imaging::write_rects_json(work / "avatar" / "crop_rects.json", avatar.rects).ok());
  expect_rendered_from(work / "avatar", avatar, Speech::kNpy, work);
  fs::remove_all(work);
}

TEST(CliRender, AvatarFolderWithoutRectsIsAClearError) {
  const fs::path work = testing::temp_dir();
  fs::create_directories(work / "avatar" / "frames");
  const fs::path wav = write_wav(work / "speech.wav", 0.5);
  const RunResult r = run_cli(render_args(work / "avatar", wav, work / "out.mp4"), work);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("no crop rects"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(work / "out.mp4"));
  fs::remove_all(work);
}

std::vector<std::size_t> npy_shape(const fs::path& path) {
  auto array = read_npy(path);
  EXPECT_TRUE(array.ok()) << path;
  return array.ok() ? array->shape : std::vector<std::size_t>{};
}

TEST(CliFeatures, WritesEveryStageWithConsistentShapes) {
  const fs::path work = testing::temp_dir();
  const fs::path wav = write_wav(work / "speech.wav", 1.5);
  const RunResult r = run_cli(
      {"features", wav.string(), "--mel", (work / "mel.npy").string(), "--windows",
       (work / "windows.npy").string(), "--features", (work / "features.npy").string(), "--tensors",
       (work / "tensors.npy").string(), "--encoder", model("encoder_tiny.onnx").string()},
      work);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // The mel equals the in-process front-end's on the same file, value for value.
  auto samples = audio::load_audio(wav);
  ASSERT_TRUE(samples.ok());
  auto analyzer = audio::MelAnalyzer::create();
  auto mel = (*analyzer)->compute(*samples);
  ASSERT_TRUE(mel.ok());
  auto written = read_npy(work / "mel.npy");
  ASSERT_TRUE(written.ok());
  EXPECT_EQ(written->shape, (std::vector<std::size_t>{mel->frame_count, 80}));
  EXPECT_EQ(written->to_c_order<double>(), mel->values);
  const auto windows = npy_shape(work / "windows.npy");
  ASSERT_EQ(windows.size(), 4u);
  EXPECT_GT(windows[0], 0u);
  EXPECT_EQ(windows, (std::vector<std::size_t>{windows[0], 1, 80, 16}));
  EXPECT_EQ(npy_shape(work / "features.npy"), (std::vector<std::size_t>{windows[0] + 2, 512}));
  EXPECT_EQ(npy_shape(work / "tensors.npy"),
            (std::vector<std::size_t>{windows[0] + 2, 32, 16, 16}));
  fs::remove_all(work);
}

TEST(CliFeatures, BadInputIsAClearError) {
  const fs::path work = testing::temp_dir();
  const fs::path wav = write_wav(work / "speech.wav", 0.5);
  std::ofstream(work / "noise.wav") << "not audio at all";
  RunResult r = run_cli({"features", wav.string(), "--features", (work / "f.npy").string()}, work);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("need --encoder"), std::string::npos) << r.output;
  r = run_cli({"features", (work / "noise.wav").string(), "--mel", (work / "m.npy").string()},
              work);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("noise.wav"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(work / "m.npy"));
  fs::remove_all(work);
}

// The benchmark's JSON on stdout, or a failure naming what was printed.
json bench_json(const RunResult& r) {
  EXPECT_EQ(r.exit_code, 0) << r.output;
  auto parsed = json::parse(r.stdout_text, nullptr, false);
  EXPECT_FALSE(parsed.is_discarded()) << r.stdout_text;
  return parsed.is_discarded() ? json::object() : parsed;
}

void expect_timing(const json& timing) {
  for (const char* key : {"median_ms", "min_ms", "max_ms"}) {
    ASSERT_TRUE(timing.contains(key)) << timing.dump();
    EXPECT_GT(timing[key].get<double>(), 0.0) << key;
  }
  EXPECT_LE(timing["min_ms"].get<double>(), timing["median_ms"].get<double>());
  EXPECT_LE(timing["median_ms"].get<double>(), timing["max_ms"].get<double>());
}

TEST(CliBench, Audio) {
  const fs::path work = testing::temp_dir();
  const json report =
      bench_json(run_cli({"bench", "audio", "--encoder", model("encoder_tiny.onnx").string(),
                          "--batch", "1,4", "--iterations", "2", "--warmup", "0"},
                         work));
  EXPECT_EQ(report.value("benchmark", ""), "audio");
  ASSERT_TRUE(report.contains("front_end"));
  expect_timing(report["front_end"]["mel_and_windows_whole_clip"]);
  expect_timing(report["front_end"]["streaming_mel_20ms_chunks"]);
  EXPECT_GT(report["front_end"]["mel_and_windows_whole_clip"]["realtime_factor_median"], 1.0);
  ASSERT_EQ(report["encoders"].size(), 1u);
  const json& results = report["encoders"][0]["results"];
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[1]["batch"], 4);
  expect_timing(results[1]);
  EXPECT_GT(results[1]["ms_per_window_median"].get<double>(), 0.0);

  std::ofstream(work / "noise.wav") << "not audio at all";
  const RunResult bad = run_cli({"bench", "audio", "--audio", (work / "noise.wav").string()}, work);
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("noise.wav"), std::string::npos) << bad.output;
  fs::remove_all(work);
}

TEST(CliBench, Model) {
  const fs::path work = testing::temp_dir();
  const json report =
      bench_json(run_cli({"bench", "model", "--model", model("unet_tiny.onnx").string(),
                          "--encoder", model("encoder_tiny.onnx").string(), "--batch", "1,2",
                          "--iterations", "2", "--warmup", "0", "--pipelined"},
                         work));
  EXPECT_EQ(report.value("benchmark", ""), "model");
  for (const char* part : {"unet", "encoder"}) {
    ASSERT_TRUE(report.contains(part)) << report.dump();
    EXPECT_EQ(report[part]["provider"], "cpu");
    ASSERT_EQ(report[part]["results"].size(), 2u);
    for (const json& result : report[part]["results"]) {
      expect_timing(result);
      EXPECT_GT(result["fps_median"].get<double>(), 0.0);
      // Pipelined: the steady-state throughput and every step's median time.
      EXPECT_GT(result.value("pipelined_fps", 0.0), 0.0) << result.dump();
      for (const char* step : {"write", "upload", "wait", "execute", "read"}) {
        EXPECT_TRUE(result.contains(std::string("pipelined_") + step + "_median_ms")) << step;
      }
      EXPECT_GT(result.value("pipelined_execute_median_ms", 0.0), 0.0);
    }
  }
  std::ofstream(work / "broken.onnx") << "not a model";
  const RunResult bad =
      run_cli({"bench", "model", "--model", (work / "broken.onnx").string()}, work);
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("broken.onnx"), std::string::npos) << bad.output;
  fs::remove_all(work);
}

// --profile writes ORT's per-node profile and names it; --save-outputs the outputs per batch
// size; --graph-optimization changes ORT's rewrites but not what the model computes.
TEST(CliBench, ModelProfileAndOutputs) {
  const fs::path work = testing::temp_dir();
  auto run = [&](const std::string& level, const fs::path& outputs) {
    return bench_json(
        run_cli({"bench", "model", "--model", model("unet_tiny.onnx").string(), "--batch", "2",
                 "--iterations", "2", "--warmup", "0", "--execute-only", "--graph-optimization",
                 level, "--profile", (work / "prof").string(), "--save-outputs", outputs.string()},
                work));
  };
  const json all = run("all", work / "all");
  EXPECT_EQ(all["unet"]["graph_optimization"], "all");
  const fs::path profile = all["unet"].value("profile_file", "");
  ASSERT_TRUE(fs::is_regular_file(profile)) << all.dump();
  const json events = json::parse(std::ifstream(profile), nullptr, false);
  ASSERT_TRUE(events.is_array()) << profile;
  int runs = 0, nodes = 0;
  for (const json& e : events) {
    runs += e.value("name", "") == "model_run";
    nodes += e.value("cat", "") == "Node";
  }
  EXPECT_EQ(runs, 2);  // the timed runs, no warm-up asked for
  EXPECT_GT(nodes, 2 * 90) << "a node event per node and run";

  const json none = run("disable", work / "none");
  EXPECT_EQ(none["unet"]["graph_optimization"], "disable");
  auto output = [&](const char* dir) {
    auto array = read_npy(work / dir / "unet_b2.npy");
    EXPECT_TRUE(array.ok()) << array.status().message();
    return array.ok() ? array->to_c_order<float>() : std::vector<float>{};
  };
  const auto a = output("all"), b = output("none");
  ASSERT_EQ(a.size(), 2u * 3 * 320 * 320);
  ASSERT_EQ(b.size(), a.size());
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, double(std::abs(a[i] - b[i])));
  EXPECT_LT(worst, 1e-4) << "ORT's rewrites changed the outputs";

  const RunResult bad = run_cli({"bench", "model", "--model", model("unet_tiny.onnx").string(),
                                 "--graph-optimization", "most"},
                                work);
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("--graph-optimization"), std::string::npos) << bad.output;
  fs::remove_all(work);
}

TEST(CliBench, Jpeg) {
  const fs::path work = testing::temp_dir();
  const json report = bench_json(run_cli({"bench", "jpeg", "--sizes", "1280x720", "--iterations",
                                          "1", "--warmup", "0", "--memory-frames", "1"},
                                         work));
  EXPECT_EQ(report.value("benchmark", ""), "jpeg");
  ASSERT_EQ(report["speed"].size(), 2u);  // 720p with a 180 and a 320 px face
  for (const json& speed : report["speed"]) {
    EXPECT_EQ(speed["height"], 720);
    expect_timing(speed["spliced"]);
    expect_timing(speed["full_copy_composite_encode"]);
    EXPECT_GT(speed["speedup_median"].get<double>(), 0.0);
  }
  ASSERT_EQ(report["memory"].size(), 1u);
  const json& memory = report["memory"][0];
  EXPECT_EQ(memory["frames"], 1);
  EXPECT_GT(memory["store_bytes"].get<double>(), 0.0);
  EXPECT_GT(memory["store_vs_rgba"].get<double>(), 0.0);

  RunResult bad = run_cli({"bench", "jpeg", "--sizes", "1280x720", "--quality", "0"}, work);
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("jpeg_quality 0"), std::string::npos) << bad.output;
  bad = run_cli({"bench", "jpeg", "--sizes", "640x480"}, work);
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("'640x480' is not one of"), std::string::npos) << bad.output;
  fs::remove_all(work);
}

TEST(CliBench, Avatar) {
  const fs::path work = testing::temp_dir();
  const json report =
      bench_json(run_cli({"bench", "avatar", "--sizes", "640x360", "--frames", "6", "--repeat", "1",
                          "--output-frames", "2", "--work-dir", (work / "cache").string()},
                         work));
  EXPECT_EQ(report.value("benchmark", ""), "avatar_cold_load");
  ASSERT_EQ(report["cases"].size(), 1u);
  const json& c = report["cases"][0];
  EXPECT_EQ(c["size"], "640x360");
  EXPECT_EQ(c["frames"], 6);
  EXPECT_GT(c["load_ms"]["median"].get<double>(), 0.0);
  EXPECT_GT(c["load_cpu_ms_median"].get<double>(), 0.0);
  EXPECT_GT(c["avatar_memory_mb"].get<double>(), 0.0);
  EXPECT_GT(c["output"]["render_jpeg_ms"]["median"].get<double>(), 0.0);
  EXPECT_GT(c["output"]["mean_jpeg_bytes"]["render_jpeg"].get<double>(), 0.0);

  const RunResult bad = run_cli({"bench", "avatar", "--sizes", "640by360"}, work);
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("'640by360' is not WIDTHxHEIGHT"), std::string::npos) << bad.output;
  fs::remove_all(work);
}

}  // namespace
}  // namespace lipsync
