// `lipsync import`: a SyncTalk_2D training output (UNet checkpoint, dataset folder, optionally the
// audio-encoder checkpoint) to an avatar package that `render --avatar DIR` and `serve` take as
// it is (docs/models.md):
//
//   OUT/unet.onnx unet_fp16.onnx [encoder.onnx]   exported by tools/synctalk_export.py
//   OUT/crop_rects.json                           from the dataset's landmarks (pipeline.md §4)
//   OUT/frames/N.jpg  or  OUT/video.mp4           the dataset's 25 fps frames (linked or copied)
//   OUT/model.yaml                                a server config serving this avatar
//
// The export needs PyTorch, so it runs as a Python tool process; this command owns everything
// else (finding the data, the rects, the check of the exports with the serving runtime), and
// builds the package in OUT.partial-PID, renamed to OUT only when complete.
#include <fmt/format.h>
#include <fmt/os.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "cli/import_check.h"
#include "cli/interrupt.h"
#include "cli/tool_process.h"
#include "imaging/crop_rects.h"
#include "media/image_folder.h"
#include "media/video_decoder.h"

namespace lipsync::cli {
namespace {

namespace fs = std::filesystem;

constexpr double kModelFps = 25.0;  // pipeline.md: video runs at 25 fps

struct ImportOptions {
  std::string checkpoint;
  std::string dataset;
  std::string encoder_checkpoint;
  std::string output;
  std::string name;
  std::string video;
  std::string landmarks;
  std::string python = "/usr/bin/python3";  // Debian's, where python3-torch installs
  std::string export_script;
  bool force = false;
};

// What the dataset gives: its frames (full_body_img/ or a 25 fps video) and landmarks.
struct Dataset {
  fs::path frames_dir;
  fs::path video;
  fs::path landmarks;
  std::int64_t frame_count = 0;  // 0: unknown (a container that does not say)
};

// A video in the dataset folder; SyncTalk_2D's process.py leaves NAME_25fps.mp4 beside a
// source of another rate, which is then the one the landmarks belong to.
fs::path find_video(const fs::path& dir) {
  fs::path found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const auto ext = entry.path().extension();
    if (ext != ".mp4" && ext != ".mov" && ext != ".mkv" && ext != ".avi" && ext != ".webm")
      continue;
    if (entry.path().stem().string().ends_with("_25fps")) return entry.path();
    if (found.empty() || entry.path() < found) found = entry.path();
  }
  return found;
}

Status use_video(const fs::path& video, Dataset& d) {
  ASSIGN_OR_RETURN(auto decoder, media::VideoDecoder::open(video));
  const auto& info = decoder.info();
  if (std::abs(info.fps - kModelFps) > 0.01) {
    return make_error(ErrorCode::kInvalidArgument,
                      "'{}' runs at {:.3f} fps; the model and its landmarks are at 25 fps. Give "
                      "the dataset's full_body_img/ frames, or the 25 fps video the landmarks "
                      "were detected on (SyncTalk_2D converts with: ffmpeg -i '{}' -vf fps=25 "
                      "-c:v libx264 NAME_25fps.mp4)",
                      video.string(), info.fps, video.string());
  }
  d.video = video;
  d.frame_count = info.frame_count_estimate;
  return {};
}

Result<Dataset> find_dataset(const ImportOptions& o) {
  Dataset d;
  const fs::path root = o.dataset;
  std::error_code ec;
  if (!o.dataset.empty() && !fs::is_directory(root, ec)) {
    return make_error(ErrorCode::kNotFound, "dataset folder '{}' not found", o.dataset);
  }
  d.landmarks = o.landmarks.empty() ? root / "landmarks" : fs::path(o.landmarks);
  if (!fs::is_directory(d.landmarks, ec)) {
    return make_error(ErrorCode::kNotFound,
                      "no landmarks folder '{}': SyncTalk_2D's data_utils/process.py writes "
                      "landmarks/N.lms into the dataset folder; pass --dataset DIR or --landmarks",
                      d.landmarks.string());
  }
  if (!o.video.empty()) {
    RETURN_IF_ERROR(use_video(o.video, d));
  } else if (fs::is_directory(root / "full_body_img", ec)) {
    ASSIGN_OR_RETURN(auto folder, media::scan_frame_folder(root / "full_body_img"));
    d.frames_dir = folder.dir;
    d.frame_count = static_cast<std::int64_t>(folder.files.size());
  } else if (const fs::path video = find_video(root); !video.empty()) {
    RETURN_IF_ERROR(use_video(video, d));
  } else {
    return make_error(ErrorCode::kNotFound,
                      "no frames in '{}': expected full_body_img/ (0.jpg ..) or the 25 fps video; "
                      "pass --video FILE",
                      root.string());
  }
  return d;
}

// "a/b/" or "a/b/." -> "/cwd/a/b": the folder itself, whose name is the default model id and
// gets the ".partial-PID" suffix while the package is built.
fs::path folder_path(const std::string& text) {
  fs::path path = fs::absolute(text).lexically_normal();
  return path.has_filename() ? path : path.parent_path();
}

// A hard link where the file system allows (the frames of a long video are gigabytes), else
// a copy.
Status link_or_copy(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::create_hard_link(from, to, ec);
  if (ec) fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  if (ec) {
    return make_error(ErrorCode::kInternal, "cannot copy '{}' to '{}': {}", from.string(),
                      to.string(), ec.message());
  }
  return {};
}

// The rects, and the frames or the video, in the package. Returns the frames' YAML key/value.
Result<std::string> write_avatar(const Dataset& d, const fs::path& package) {
  ASSIGN_OR_RETURN(auto rects, imaging::rects_from_landmarks_dir(d.landmarks));
  if (d.frame_count > 0 && d.frame_count != static_cast<std::int64_t>(rects.size())) {
    return make_error(ErrorCode::kInvalidArgument,
                      "'{}' has {} frames but '{}' has {} landmark files: they must be the same "
                      "frames (0.jpg goes with 0.lms)",
                      (d.video.empty() ? d.frames_dir : d.video).string(), d.frame_count,
                      d.landmarks.string(), rects.size());
  }
  RETURN_IF_ERROR(imaging::write_rects_json(package / "crop_rects.json", rects));
  fmt::print("rects: {} from {}\n", rects.size(), d.landmarks.string());
  if (!d.video.empty()) {
    const fs::path name = "video" + d.video.extension().string();
    RETURN_IF_ERROR(link_or_copy(d.video, package / name));
    fmt::print("video: {}\n", d.video.string());
    return "source_video: " + name.string();
  }
  ASSIGN_OR_RETURN(auto folder, media::scan_frame_folder(d.frames_dir));
  std::error_code ec;
  if (!fs::create_directory(package / "frames", ec) || ec) {
    return make_error(ErrorCode::kInternal, "cannot create '{}': {}", (package / "frames").string(),
                      ec.message());
  }
  for (const auto& file : folder.files) {
    RETURN_IF_ERROR(link_or_copy(file, package / "frames" / file.filename()));
  }
  fmt::print("frames: {} from {}\n", folder.files.size(), d.frames_dir.string());
  return std::string("background_dir: frames");
}

// tools/synctalk_export.py: --export-script, else in share/lipsync/tools above the binary's
// folder: PREFIX/bin/lipsync when installed, <build>/src/cli/lipsync in a build tree.
Result<fs::path> find_export_script(const std::string& given) {
  std::error_code ec;
  if (!given.empty()) {
    if (fs::is_regular_file(given, ec)) return fs::path(given);
    return make_error(ErrorCode::kNotFound, "export script '{}' not found", given);
  }
  const fs::path tools = fs::path("share") / "lipsync" / "tools" / "synctalk_export.py";
  const fs::path exe = executable_dir();
  // PREFIX/bin/.. when installed; <build>/src/cli/../.. in a build tree.
  const std::vector<fs::path> candidates = {exe.parent_path() / tools,
                                            exe.parent_path().parent_path() / tools};
  for (const auto& candidate : candidates) {
    if (fs::is_regular_file(candidate, ec)) return candidate;
  }
  return make_error(ErrorCode::kNotFound,
                    "synctalk_export.py not found in '{}' or '{}'; pass --export-script "
                    "tools/synctalk_export.py of the lipsync sources",
                    candidates[0].parent_path().string(), candidates[1].parent_path().string());
}

Status run_export(const ImportOptions& o, const fs::path& package, const fs::path& check_dir) {
  ASSIGN_OR_RETURN(fs::path script, find_export_script(o.export_script));
  std::vector<std::string> argv = {o.python, script.string(),  "--unet",      o.checkpoint,
                                   "--out",  package.string(), "--check-dir", check_dir.string()};
  if (!o.encoder_checkpoint.empty()) {
    argv.insert(argv.end(), {"--encoder", o.encoder_checkpoint});
  }
  fmt::print("exporting with {} {} ...\n", o.python, script.string());
  std::fflush(stdout);
  ASSIGN_OR_RETURN(int code, run_tool(argv));
  switch (code) {
    case 0:
      return {};
    case 2:
      return make_error(ErrorCode::kInvalidArgument, "the checkpoint cannot be exported (above)");
    case 3:
      return make_error(ErrorCode::kFailedPrecondition,
                        "the export needs PyTorch: apt-get install python3-torch python3-onnx "
                        "(or pass --python with an interpreter that has torch and onnx)");
    default:
      return make_error(ErrorCode::kInternal, "the export failed (exit code {}; its output above)",
                        code);
  }
}

Status check(const fs::path& package, const fs::path& check_dir, bool encoder) {
  ASSIGN_OR_RETURN(auto checks, check_exports(package, check_dir, encoder));
  for (const auto& c : checks) {
    fmt::print(
        "check: {} against PyTorch on {} samples: max |difference| {:.2g} (tolerance {:.2g})\n",
        c.file, c.samples, c.max_abs_diff, c.tolerance);
  }
  return {};
}

Status write_model_yaml(const fs::path& package, const fs::path& final_dir, const std::string& name,
                        const std::string& frames_entry, bool encoder) try {
  auto out = fmt::output_file((package / "model.yaml").string());
  out.print(
      "# Written by `lipsync import`: a server configuration serving this avatar alone\n"
      "#   lipsync serve --config {0}/model.yaml\n"
      "#   lipsync render --config {0}/model.yaml --model {1} --audio speech.wav\n"
      "# Paths are relative to this file's folder (models_root). To add the avatar to another\n"
      "# configuration, copy the `models:` entry with the paths prefixed by {0}/.\n"
      "models_root: .\n",
      fs::absolute(final_dir).lexically_normal().string(), name);
  if (encoder) {
    out.print("onnx:\n  audio_encoder_path: encoder.onnx  # shared by all avatars\n");
  } else {
    out.print(
        "# onnx.audio_encoder_path is needed to serve: the encoder exported from SyncTalk_2D's\n"
        "# audio_visual_encoder.pth (`lipsync import --encoder-checkpoint`), shared by all "
        "avatars.\n"
        "# onnx:\n#   audio_encoder_path: /path/to/encoder.onnx\n");
  }
  out.print(
      "models:\n  {}:\n    model_path: unet.onnx  # unet_fp16.onnx on a GPU: half the size\n"
      "    {}\n    crop_rects_path: crop_rects.json\n",
      name, frames_entry);
  return {};
} catch (const std::system_error& e) {
  return make_error(ErrorCode::kInternal, "cannot write '{}': {}",
                    (package / "model.yaml").string(), e.what());
}

// Moves the finished package into place; with --force an existing OUT is replaced.
Status commit(const fs::path& staging, const fs::path& out, bool force) {
  std::error_code ec;
  if (fs::exists(out, ec)) {
    if (!force) {
      return make_error(ErrorCode::kAlreadyExists, "'{}' exists: pass --force to replace it",
                        out.string());
    }
    fs::remove_all(out, ec);
    if (ec) {
      return make_error(ErrorCode::kInternal, "cannot remove '{}': {}", out.string(), ec.message());
    }
  }
  fs::rename(staging, out, ec);
  if (ec) {
    return make_error(ErrorCode::kInternal, "cannot move '{}' to '{}': {}", staging.string(),
                      out.string(), ec.message());
  }
  return {};
}

Status build_package(const ImportOptions& o, const fs::path& staging) {
  ASSIGN_OR_RETURN(Dataset dataset, find_dataset(o));
  ASSIGN_OR_RETURN(std::string frames_entry, write_avatar(dataset, staging));
  const fs::path check_dir = staging / ".export-check";
  RETURN_IF_ERROR(run_export(o, staging, check_dir));
  RETURN_IF_ERROR(check(staging, check_dir, !o.encoder_checkpoint.empty()));
  std::error_code ec;
  fs::remove_all(check_dir, ec);
  const std::string name = o.name.empty() ? folder_path(o.dataset).filename().string() : o.name;
  return write_model_yaml(staging, o.output, name.empty() ? "avatar" : name, frames_entry,
                          !o.encoder_checkpoint.empty());
}

Status import_model(const ImportOptions& o) {
  // Before any thread starts: Ctrl-C then removes the unfinished package (cli/interrupt.h).
  InterruptCleanup interrupt;
  std::error_code ec;
  for (const auto& [flag, path] : {std::pair{"--checkpoint", o.checkpoint},
                                   std::pair{"--encoder-checkpoint", o.encoder_checkpoint}}) {
    if (!path.empty() && !fs::is_regular_file(path, ec)) {
      return make_error(ErrorCode::kNotFound, "{} '{}': no such file", flag, path);
    }
  }
  const fs::path out = folder_path(o.output);
  if (fs::exists(out, ec) && !o.force) {  // before minutes of export, not after
    return make_error(ErrorCode::kAlreadyExists, "'{}' exists: pass --force to replace it",
                      out.string());
  }
  const fs::path staging = out.string() + fmt::format(".partial-{}", ::getpid());
  fs::remove_all(staging, ec);
  fs::create_directories(staging, ec);
  if (ec) {
    return make_error(ErrorCode::kInternal, "cannot create '{}': {}", staging.string(),
                      ec.message());
  }
  interrupt.set([staging] {
    terminate_running_tool();  // the export writes into the staging folder until it is gone
    std::error_code ignored;
    for (int attempt = 0; attempt < 40; ++attempt) {
      fs::remove_all(staging, ignored);
      if (!fs::exists(staging, ignored)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  Status status = build_package(o, staging);
  if (status.ok()) status = commit(staging, out, o.force);
  if (!status.ok()) fs::remove_all(staging, ec);
  interrupt.set({});
  if (status.ok())
    fmt::print("{}: ready (lipsync render --avatar {})\n", out.string(), out.string());
  return status;
}

void add(CLI::App& app, Action* action) {
  auto o = std::make_shared<ImportOptions>();
  auto* cmd = app.add_subcommand(
      "import", "A SyncTalk_2D training output to an avatar package (ONNX, rects, frames)");
  cmd->add_option("--checkpoint", o->checkpoint,
                  "the person's UNet checkpoint (checkpoint/NAME/N.pth)")
      ->required();
  cmd->add_option("--dataset", o->dataset,
                  "the training dataset folder (full_body_img/ or the 25 fps video, landmarks/)")
      ->required();
  cmd->add_option("--encoder-checkpoint", o->encoder_checkpoint,
                  "the audio encoder (model/checkpoints/audio_visual_encoder.pth) -> encoder.onnx");
  cmd->add_option("-o,--output", o->output, "the package folder to write")->required();
  cmd->add_option("--name", o->name, "model id in model.yaml (default: the dataset folder's name)");
  cmd->add_option("--video", o->video, "use this 25 fps video instead of full_body_img/");
  cmd->add_option("--landmarks", o->landmarks, "the .lms folder (default: DATASET/landmarks)");
  cmd->add_option("--python", o->python, "Python 3 with torch and onnx")
      ->envname("LIPSYNC_PYTHON")
      ->capture_default_str();
  cmd->add_option("--export-script", o->export_script, "tools/synctalk_export.py to run")
      ->envname("LIPSYNC_EXPORT_SCRIPT");
  cmd->add_flag("--force", o->force, "replace an existing output folder");
  cmd->callback([action, o] { *action = status_action([o] { return import_model(*o); }); });
}

}  // namespace

LIPSYNC_REGISTER_COMMAND(add);

}  // namespace lipsync::cli
