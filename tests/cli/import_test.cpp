// `lipsync import` end to end: checkpoints with random weights of the reference architecture
// (make_synctalk_checkpoints.py, saved as SyncTalk_2D saves them) and a small synthetic
// SyncTalk_2D dataset (full_body_img/N.jpg + landmarks/N.lms, or a 25 fps video) become a
// package that `render --avatar` takes as it is, rendering the frames of the same models given
// explicitly; bad inputs are clear errors that leave nothing behind.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/config.h"
#include "core/npy.h"
#include "imaging/crop_rects.h"
#include "media/jpeg_codec.h"
#include "media/video_writer.h"
#include "run_cli.h"
#include "support/test_paths.h"

namespace lipsync {
namespace {

namespace fs = std::filesystem;

using testing::run_cli;
using testing::RunResult;

constexpr int kWidth = 200;
constexpr int kHeight = 160;
constexpr int kFrames = 6;

Rect rect_of(int t) {
  return {50 + t, 30, 150 + t, 130};
}

Image frame_of(int t) {
  Image image(kWidth, kHeight);
  for (int y = 0; y < kHeight; ++y) {
    for (int x = 0; x < kWidth; ++x) {
      std::uint8_t* p = image.pixels.data() + (static_cast<std::size_t>(y) * kWidth + x) * 3;
      p[0] = static_cast<std::uint8_t>(30 + x / 2 + 5 * t);
      p[1] = static_cast<std::uint8_t>(50 + y);
      p[2] = static_cast<std::uint8_t>(128 + 80 * std::sin((x - y) * 0.07));
    }
  }
  return image;
}

// 110 landmarks whose points 1, 31 and 52 give rect_of(t) (pipeline.md §4).
void write_landmarks(const fs::path& dir, int count) {
  fs::create_directories(dir);
  for (int t = 0; t < count; ++t) {
    const Rect r = rect_of(t);
    std::ofstream out(dir / (std::to_string(t) + ".lms"));
    for (int i = 0; i < imaging::kLandmarkCount; ++i) {
      const int x = i == 1 ? r.x1 : i == 31 ? r.x2 : 100;
      const int y = i == 52 ? r.y1 : 80;
      out << x << ' ' << y << '\n';
    }
  }
}

void write_jpeg_frames(const fs::path& dir) {
  fs::create_directories(dir);
  for (int t = 0; t < kFrames; ++t) {
    auto jpeg = media::encode_jpeg(frame_of(t).view(), {.quality = 95});
    ASSERT_TRUE(jpeg.ok());
    std::ofstream(dir / (std::to_string(t) + ".jpg"), std::ios::binary)
        .write(reinterpret_cast<const char*>(jpeg->data()),
               static_cast<std::streamsize>(jpeg->size()));
  }
}

void write_video(const fs::path& path, int fps) {
  fs::create_directories(path.parent_path());
  auto writer =
      media::VideoWriter::create(path, {.width = kWidth, .height = kHeight, .fps = fps, .crf = 12});
  ASSERT_TRUE(writer.ok()) << writer.status().to_string();
  for (int t = 0; t < kFrames; ++t) {
    const Status written = writer->write_frame(frame_of(t).view());
    ASSERT_TRUE(written.ok()) << written.to_string();
  }
  ASSERT_TRUE(writer->finish().ok());
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The files of a folder (name -> bytes).
std::map<std::string, std::string> folder_files(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::directory_iterator(dir))
    files[entry.path().filename().string()] = read_file(entry.path());
  return files;
}

bool leftovers(const fs::path& out) {
  for (const auto& entry : fs::directory_iterator(out.parent_path())) {
    if (entry.path().filename().string().starts_with(out.filename().string())) return true;
  }
  return false;
}

class ImportTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(testing::temp_dir());
    const fs::path tools = fs::path(LIPSYNC_SOURCE_DIR) / "tools";
    const RunResult made = testing::run_program(
        {"/usr/bin/python3",
         fs::path(LIPSYNC_SOURCE_DIR) / "tests" / "cli" / "make_synctalk_checkpoints.py", "--tools",
         tools.string(), "--out", (*dir_ / "checkpoints").string()},
        *dir_);
    ASSERT_EQ(made.exit_code, 0) << made.output;
    write_jpeg_frames(*dir_ / "May" / "full_body_img");
    write_landmarks(*dir_ / "May" / "landmarks", kFrames);
    std::vector<float> samples(8000);  // 0.5 s: M = 41 mel rows, 11 output frames (n + 2)
    for (std::size_t n = 0; n < samples.size(); ++n) samples[n] = 0.3f * std::sin(n * 0.05f);
    ASSERT_TRUE(write_npy(*dir_ / "speech.npy", samples, {samples.size()}).ok());
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  static fs::path checkpoint(const char* name) { return *dir_ / "checkpoints" / name; }
  static RunResult render(std::vector<std::string> args, const fs::path& out) {
    args.insert(args.begin(), {"render", "--audio", (*dir_ / "speech.npy").string(), "-o",
                               out.string() + "/", "--threads", "2"});
    return run_cli(args, *dir_);
  }

  static fs::path* dir_;
};
fs::path* ImportTest::dir_ = nullptr;

TEST_F(ImportTest, FramesDatasetBecomesAPackageRenderTakesAsItIs) {
  const fs::path dataset = *dir_ / "May";
  const fs::path package = *dir_ / "may_package";
  const RunResult imported =
      run_cli({"import", "--checkpoint", checkpoint("unet.pth"), "--dataset", dataset,
               "--encoder-checkpoint", checkpoint("encoder.pth"), "-o", package},
              *dir_);
  ASSERT_EQ(imported.exit_code, 0) << imported.output;
  for (const char* file : {"unet.onnx", "unet_fp16.onnx", "encoder.onnx"}) {
    EXPECT_NE(imported.output.find(fmt::format("check: {} against PyTorch on 2 samples", file)),
              std::string::npos)
        << imported.output;
  }
  for (const char* file : {"unet.onnx", "unet_fp16.onnx", "encoder.onnx", "crop_rects.json",
                           "model.yaml", "frames/0.jpg", "frames/5.jpg"}) {
    EXPECT_TRUE(fs::is_regular_file(package / file)) << file;
  }
  EXPECT_FALSE(fs::exists(package / ".export-check"));
  auto rects = imaging::read_rects_json(package / "crop_rects.json");
  ASSERT_TRUE(rects.ok());
  ASSERT_EQ(rects->size(), static_cast<std::size_t>(kFrames));
  for (int t = 0; t < kFrames; ++t) EXPECT_EQ((*rects)[t], rect_of(t));

  // model.yaml serves the package as it is.
  auto config = load_config(package / "model.yaml");
  ASSERT_TRUE(config.ok()) << config.status().to_string();
  ASSERT_EQ(config->models.count("May"), 1u);
  const ModelConfig& model = config->models.at("May");
  EXPECT_EQ(fs::canonical(model.model_path), fs::canonical(package / "unet.onnx"));
  EXPECT_EQ(fs::canonical(model.background_dir), fs::canonical(package / "frames"));
  EXPECT_EQ(fs::canonical(model.crop_rects_path), fs::canonical(package / "crop_rects.json"));
  EXPECT_EQ(fs::canonical(config->runtime.audio_encoder_path),
            fs::canonical(package / "encoder.onnx"));

  const RunResult inspected = run_cli({"avatar", "inspect", package}, *dir_);
  ASSERT_EQ(inspected.exit_code, 0) << inspected.output;
  EXPECT_NE(inspected.output.find("frames:      6"), std::string::npos) << inspected.output;

  const RunResult from_package = render({"--avatar", package}, *dir_ / "from_package");
  ASSERT_EQ(from_package.exit_code, 0) << from_package.output;
  const RunResult explicit_models =
      render({"--frames", (dataset / "full_body_img").string(), "--rects",
              (dataset / "landmarks").string(), "--unet", (package / "unet.onnx").string(),
              "--encoder", (package / "encoder.onnx").string()},
             *dir_ / "explicit");
  ASSERT_EQ(explicit_models.exit_code, 0) << explicit_models.output;
  const auto a = folder_files(*dir_ / "from_package");
  const auto b = folder_files(*dir_ / "explicit");
  EXPECT_EQ(a.size(), 11u);
  EXPECT_TRUE(a == b) << "rendering the package differs from the same models given explicitly";
}

// A checkpoint saved wrapped ({'state_dict': ...} with DataParallel's `module.` prefix) and a
// dataset holding only the 25 fps video (as SyncTalk_2D's process.py names it).
TEST_F(ImportTest, WrappedCheckpointAndVideoDataset) {
  const fs::path dataset = *dir_ / "Bob";
  write_video(dataset / "Bob_25fps.mp4", 25);
  write_landmarks(dataset / "landmarks", kFrames);
  const fs::path package = *dir_ / "bob_package";
  const RunResult imported = run_cli({"import", "--checkpoint", checkpoint("unet_wrapped.pth"),
                                      "--dataset", dataset, "-o", package},
                                     *dir_);
  ASSERT_EQ(imported.exit_code, 0) << imported.output;
  EXPECT_TRUE(fs::is_regular_file(package / "video.mp4"));
  EXPECT_FALSE(fs::exists(package / "encoder.onnx"));
  const std::string yaml = read_file(package / "model.yaml");
  EXPECT_NE(yaml.find("source_video: video.mp4"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("# onnx:"), std::string::npos) << yaml;  // where the encoder goes

  // Without an encoder in the package, render says what is missing.
  const RunResult no_encoder = render({"--avatar", package}, *dir_ / "bob_none");
  EXPECT_NE(no_encoder.exit_code, 0);
  EXPECT_NE(no_encoder.output.find("--encoder is required"), std::string::npos)
      << no_encoder.output;
  const RunResult rendered = render(
      {"--avatar", package, "--encoder", (testing::test_models_dir() / "encoder.onnx").string()},
      *dir_ / "bob_frames");
  ASSERT_EQ(rendered.exit_code, 0) << rendered.output;
  EXPECT_EQ(folder_files(*dir_ / "bob_frames").size(), 11u);
}

TEST_F(ImportTest, BadInputsAreClearErrorsAndLeaveNothingBehind) {
  const fs::path out = *dir_ / "bad" / "package";
  fs::create_directories(out.parent_path());
  const fs::path dataset = *dir_ / "May";
  auto expect_error = [&](std::vector<std::string> args, const std::string& fragment) {
    args.insert(args.begin(), "import");
    args.insert(args.end(), {"-o", out.string()});
    const RunResult r = run_cli(args, *dir_);
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find(fragment), std::string::npos) << r.output << "\nlacks: " << fragment;
    EXPECT_FALSE(leftovers(out)) << fragment;
  };
  expect_error({"--checkpoint", checkpoint("unet_truncated.pth"), "--dataset", dataset},
               "104 missing keys: audio_model.conv1.conv.0.weight");
  expect_error({"--checkpoint", checkpoint("none.pth"), "--dataset", dataset},
               "--checkpoint '" + checkpoint("none.pth").string() + "': no such file");
  expect_error({"--checkpoint", checkpoint("unet.pth"), "--dataset", *dir_ / "nowhere"},
               "dataset folder '" + (*dir_ / "nowhere").string() + "' not found");
  expect_error({"--checkpoint", checkpoint("unet.pth"), "--dataset", dataset, "--python",
                "/nonexistent/python3"},
               "cannot start '/nonexistent/python3'");

  const fs::path fast = *dir_ / "Fast";
  write_video(fast / "Fast.mp4", 30);
  write_landmarks(fast / "landmarks", kFrames);
  expect_error({"--checkpoint", checkpoint("unet.pth"), "--dataset", fast},
               "runs at 30.000 fps; the model and its landmarks are at 25 fps");

  const fs::path short_lms = *dir_ / "Short";
  write_jpeg_frames(short_lms / "full_body_img");
  write_landmarks(short_lms / "landmarks", kFrames - 1);
  expect_error({"--checkpoint", checkpoint("unet.pth"), "--dataset", short_lms},
               "has 6 frames but");

  fs::create_directories(out);
  const RunResult exists = run_cli(
      {"import", "--checkpoint", checkpoint("unet.pth"), "--dataset", dataset, "-o", out}, *dir_);
  EXPECT_EQ(exists.exit_code, 1);
  EXPECT_NE(exists.output.find("exists: pass --force"), std::string::npos) << exists.output;
}

// Ctrl-C while the export runs: the package's staging folder goes, the export process too.
TEST_F(ImportTest, InterruptedImportLeavesNothingBehind) {
  const fs::path out = *dir_ / "interrupted" / "package";
  fs::create_directories(out.parent_path());
  const int pid = testing::start_cli({"import", "--checkpoint", checkpoint("unet.pth"), "--dataset",
                                      (*dir_ / "May").string(), "-o", out.string()},
                                     *dir_ / "import.log");
  ASSERT_GT(pid, 0);
  const fs::path staging = out.string() + fmt::format(".partial-{}", pid);
  bool exporting = false;  // the rects are written just before the export starts
  for (int i = 0; i < 600 && !exporting; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    exporting = fs::exists(staging / "crop_rects.json");
  }
  ASSERT_TRUE(exporting) << read_file(*dir_ / "import.log");
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // into the export's run
  ASSERT_EQ(::kill(pid, SIGINT), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  const std::string log = read_file(*dir_ / "import.log");
  ASSERT_TRUE(WIFSIGNALED(status)) << "exit status " << status << "\n" << log;
  EXPECT_EQ(WTERMSIG(status), SIGINT);
  EXPECT_FALSE(leftovers(out)) << log;
  std::this_thread::sleep_for(std::chrono::seconds(2));  // an export still running would write
  EXPECT_FALSE(leftovers(out)) << "the export went on after the interrupt";
}

}  // namespace
}  // namespace lipsync
