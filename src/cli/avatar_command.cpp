// `lipsync avatar inspect DIR|VIDEO [--rects R]` and `lipsync avatar rects LANDMARKS -o FILE`.
#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <memory>

#include "avatar/avatar.h"
#include "cli/commands.h"
#include "core/timeline.h"
#include "imaging/crop_rects.h"
#include "imaging/face_crop.h"

namespace lipsync::cli {
namespace {

namespace fs = std::filesystem;

struct InspectArgs {
  std::string path;
  std::string rects;
  std::string store = "auto";
  int jpeg_quality = 90;
  std::size_t threads = 0;
};

// Next to the frames or the video: crop_rects.json, crop_rectangles.json or landmarks/.
fs::path find_rects(const fs::path& dir) {
  for (const char* name : {"crop_rects.json", "crop_rectangles.json", "landmarks"}) {
    if (fs::exists(dir / name)) return dir / name;
  }
  return dir / "crop_rects.json";
}

// A video inside an avatar folder (used when the folder holds no numbered frames).
fs::path find_video(const fs::path& dir) {
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string ext = entry.path().extension().string();
    for (const char* known : {".mp4", ".mov", ".mkv", ".avi", ".webm"}) {
      if (ext == known) return entry.path();
    }
  }
  return {};
}

avatar::AvatarSource source_for(const InspectArgs& args) {
  const fs::path path(args.path);
  avatar::AvatarSource source;
  const bool is_dir = fs::is_directory(path);
  if (is_dir) {  // frames in `frames/` (as `render --avatar` finds them) or the folder itself
    source.frames_dir = fs::is_directory(path / "frames") ? path / "frames" : path;
    source.video_path = find_video(path);
  } else {
    source.video_path = path;
  }
  source.rects_path =
      args.rects.empty() ? find_rects(is_dir ? path : path.parent_path()) : fs::path(args.rects);
  // inspect reports what render and serve would refuse (below) instead of refusing it.
  source.accept_any_fps = true;
  source.accept_rects_outside_frame = true;
  return source;
}

void print_rects(const avatar::Avatar& avatar) {
  const auto stats = imaging::rect_stats(avatar.rects());
  int clipped = 0;
  for (const Rect& r : avatar.rects()) {
    if (imaging::clip_rect(r, avatar.info().width, avatar.info().height) != r) ++clipped;
  }
  fmt::print("rects:       {} from {}\n", stats.count, avatar.info().rects_origin);
  fmt::print("  width:     {}..{} (mean {:.1f})\n", stats.min_width, stats.max_width,
             stats.mean_width);
  fmt::print("  height:    {}..{} (mean {:.1f})\n", stats.min_height, stats.max_height,
             stats.mean_height);
  fmt::print("  bounds:    [{}, {}, {}, {}]; {} rect(s) cross the frame border\n", stats.bounds.x1,
             stats.bounds.y1, stats.bounds.x2, stats.bounds.y2, clipped);
  if (clipped > 0) {
    fmt::print(
        "warning:     render and serve refuse rects crossing the frame border unless "
        "accept_rects_outside_frame is set (render --accept-rects-outside-frame)\n");
  }
}

int inspect(const InspectArgs& args) {
  auto store = avatar::parse_background_store_kind(args.store);
  if (!store.ok()) {
    fmt::print(stderr, "error: {}\n", store.status().message());
    return 2;
  }
  avatar::AvatarOptions options;
  options.background = {.kind = *store, .jpeg_quality = args.jpeg_quality};
  options.threads = args.threads;
  auto loaded = avatar::Avatar::load(source_for(args), options);
  if (!loaded.ok()) {
    fmt::print(stderr, "error: {}\n", loaded.status().message());
    return 1;
  }
  const avatar::Avatar& avatar = **loaded;
  const avatar::AvatarInfo& info = avatar.info();
  fmt::print("frames:      {} from {}\n", avatar.frame_count(), info.frames_origin);
  fmt::print("size:        {}x{} at {:.3f} fps\n", info.width, info.height, info.fps);
  if (std::abs(info.fps - timeline::kFramesPerSecond) > 0.01) {
    fmt::print(
        "warning:     not 25 fps: render and serve refuse it unless accept_any_fps is set "
        "(render --accept-any-fps); convert with ffmpeg -vf fps=25 and remake the rects\n");
  }
  print_rects(avatar);
  // The store as loaded: `auto` resolved by the frames' size (raw while they fit).
  fmt::print("memory:      {:.1f} MB (face crops {:.1f} MB, backgrounds '{}' {:.1f} MB)\n",
             info.memory_bytes() / 1e6, info.face_bytes / 1e6,
             avatar::to_string(avatar.backgrounds().kind()), info.background_bytes / 1e6);
  fmt::print("load time:   {:.0f} ms\n", info.load_ms);
  return 0;
}

int make_rects(const std::string& landmarks, const std::string& output) {
  auto rects = imaging::rects_from_landmarks_dir(landmarks);
  if (!rects.ok()) {
    fmt::print(stderr, "error: {}\n", rects.status().message());
    return 1;
  }
  const Status written = imaging::write_rects_json(output, *rects);
  if (!written.ok()) {
    fmt::print(stderr, "error: {}\n", written.message());
    return 1;
  }
  fmt::print("{}: {} rects from {}\n", output, rects->size(), landmarks);
  return 0;
}

void add_inspect(CLI::App& group, Action* action) {
  auto args = std::make_shared<InspectArgs>();
  auto* cmd = group.add_subcommand("inspect", "Load an avatar and report frames, rects, memory");
  cmd->add_option("path", args->path,
                  "Frame folder (or a folder holding the video) or source video")
      ->required();
  cmd->add_option("--rects", args->rects,
                  "crop_rects.json, crop_rectangles.json or a .lms folder (default: next to path)");
  cmd->add_option("--store", args->store,
                  "Background store: auto (raw up to 2 GiB of frames, else jpeg) | raw | jpeg | "
                  "jpeg_splice")
      ->capture_default_str();
  cmd->add_option("--jpeg-quality", args->jpeg_quality, "JPEG quality of stored backgrounds")
      ->capture_default_str();
  cmd->add_option("--threads", args->threads, "Load threads (0 = all cores)")
      ->capture_default_str();
  cmd->callback([action, args] { *action = [args] { return inspect(*args); }; });
}

void add_rects(CLI::App& group, Action* action) {
  auto landmarks = std::make_shared<std::string>();
  auto output = std::make_shared<std::string>("crop_rects.json");
  auto* cmd = group.add_subcommand("rects", "Crop rects from 110-point .lms landmarks");
  cmd->add_option("landmarks", *landmarks, "Folder of 0.lms .. N-1.lms")->required();
  cmd->add_option("-o,--output", *output, "Output JSON (array form)")->capture_default_str();
  cmd->callback([action, landmarks, output] {
    *action = [landmarks, output] { return make_rects(*landmarks, *output); };
  });
}

void add(CLI::App& app, Action* action) {
  auto& group = subcommand_group(app, "avatar", "Avatar tools");
  add_inspect(group, action);
  add_rects(group, action);
}

}  // namespace

LIPSYNC_REGISTER_COMMAND(add);

}  // namespace lipsync::cli
