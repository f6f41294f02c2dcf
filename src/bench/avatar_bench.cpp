// `lipsync bench avatar`: cold-load time and memory of synthetic video avatars (JSON output);
// with --output-frames, also the per-frame time of turning a model output into a served JPEG:
// Avatar::render_jpeg (spliced for --store jpeg_splice) against render_frame + encode_jpeg.
#include "bench/avatar_bench.h"

#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "avatar/avatar.h"
#include "core/clock.h"
#include "core/log.h"
#include "imaging/crop_rects.h"
#include "media/jpeg_codec.h"
#include "media/video_decoder.h"
#include "media/video_writer.h"

namespace lipsync::bench {
namespace {

namespace fs = std::filesystem;

struct Size {
  int width = 0;
  int height = 0;
};

Result<Size> parse_size(const std::string& text) {
  Size size;
  if (std::sscanf(text.c_str(), "%dx%d", &size.width, &size.height) != 2) {
    return make_error(ErrorCode::kInvalidArgument, "size '{}' is not WIDTHxHEIGHT", text);
  }
  return size;
}

// The face of frame t: a square a third of the height tall, drifting right and back.
Rect synthetic_rect(Size size, int t) {
  const int side = size.height / 3;
  const int x = size.width / 3 + static_cast<int>(size.width / 6 * std::sin(t * 0.05));
  return {x, size.height / 3, x + side, size.height / 3 + side};
}

Image synthetic_frame(const Image& base, Size size, int t) {
  Image frame = base;
  const Rect r = synthetic_rect(size, t);
  for (int y = r.y1; y < r.y2; ++y) {
    std::uint8_t* row = frame.pixels.data() + y * frame.stride();
    for (int x = r.x1; x < r.x2; ++x) {
      row[x * 3] = static_cast<std::uint8_t>(((x - r.x1) * 7 + t * 3) & 0xff);
      row[x * 3 + 1] = static_cast<std::uint8_t>(((y - r.y1) * 5) & 0xff);
      row[x * 3 + 2] = static_cast<std::uint8_t>(((x + y) * 3 - t) & 0xff);
    }
  }
  return frame;
}

Status write_synthetic_avatar(const fs::path& video, const fs::path& rects, Size size, int frames) {
  LOG_INFO("bench", "writing {} ({} frames {}x{})", video.string(), frames, size.width,
           size.height);
  Image base(size.width, size.height);
  for (int y = 0; y < size.height; ++y)
    for (int x = 0; x < size.width; ++x)
      for (int c = 0; c < 3; ++c)
        base.pixels[(static_cast<std::size_t>(y) * size.width + x) * 3 + c] =
            static_cast<std::uint8_t>((x * (c + 1) / 8 + y / 4) & 0xff);
  ASSIGN_OR_RETURN(
      auto writer,
      media::VideoWriter::create(video, {.width = size.width, .height = size.height, .crf = 20}));
  std::vector<Rect> boxes;
  for (int t = 0; t < frames; ++t) {
    RETURN_IF_ERROR(writer.write_frame(synthetic_frame(base, size, t).view()));
    boxes.push_back(synthetic_rect(size, t));
  }
  RETURN_IF_ERROR(writer.finish());
  return imaging::write_rects_json(rects, boxes);
}

// Resident and peak memory of this process (Linux /proc), in MB.
double proc_status_mb(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::stod(line.substr(key.size() + 1)) / 1024.0;
  }
  return 0;
}
// User + system CPU time of this process: unlike wall time, not inflated by other processes.
double cpu_ms() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto ms = [](const timeval& t) { return t.tv_sec * 1e3 + t.tv_usec / 1e3; };
  return ms(usage.ru_utime) + ms(usage.ru_stime);
}

void reset_peak_rss() {
  std::ofstream("/proc/self/clear_refs") << "5";
}

struct Spread {
  double median = 0, min = 0, max = 0;
};
Spread spread(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v.front(), v.back()};
}

double decode_only_ms(const fs::path& video) {
  const auto start = std::chrono::steady_clock::now();
  auto info = media::decode_video(video, [](std::int64_t, Image&&) { return Status(); });
  if (!info.ok()) return -1;
  return ms_since(start);
}

// Per-frame output time, one thread: random model outputs (seeded) for frames 0, 1, ... as
// render_jpeg vs render_frame + encode_jpeg, each path over the same outputs after a warm-up.
Result<std::string> bench_output(const avatar::Avatar& avatar, const BenchAvatarOptions& args) {
  const avatar::JpegOutputOptions options{.settings = {.quality = args.jpeg_quality}};
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> value(0.0f, 1.0f);
  std::vector<float> output(avatar.geometry().output_tensor_elements());
  for (float& v : output) v = value(rng);
  std::vector<double> splice_ms, full_ms, patch_ms;
  std::size_t splice_bytes = 0, full_bytes = 0;
  for (int k = -1; k < args.output_frames; ++k) {  // k = -1: warm-up
    const auto index = static_cast<std::size_t>(std::max(k, 0)) % avatar.frame_count();
    auto start = std::chrono::steady_clock::now();
    ASSIGN_OR_RETURN(auto jpeg, avatar.render_jpeg(index, output, options));
    const double spliced = ms_since(start);
    start = std::chrono::steady_clock::now();
    ASSIGN_OR_RETURN(Image frame, avatar.render_frame(index, output));
    ASSIGN_OR_RETURN(auto full, media::encode_jpeg(frame.view(), options.settings));
    const double whole = ms_since(start);
    start = std::chrono::steady_clock::now();  // the face patch alone: both paths build it
    ASSIGN_OR_RETURN(Image patch,
                     imaging::make_face_patch(avatar.face(index), output, avatar.geometry()));
    const double patched = ms_since(start);
    if (k < 0) continue;
    patch_ms.push_back(patched);
    splice_ms.push_back(spliced);
    full_ms.push_back(whole);
    splice_bytes += jpeg.size();
    full_bytes += full.size();
  }
  const Spread a = spread(splice_ms), b = spread(full_ms);
  const std::string refusal = avatar.splice_refusal(options.settings);
  return fmt::format(
      ", \"output\": {{\"frames\": {}, \"jpeg_quality\": {}, \"render_jpeg_path\": \"{}\", "
      "\"render_jpeg_ms\": {{\"median\": {:.2f}, \"min\": {:.2f}, \"max\": {:.2f}}}, "
      "\"render_frame_encode_ms\": {{\"median\": {:.2f}, \"min\": {:.2f}, \"max\": {:.2f}}}, "
      "\"face_patch_ms_median\": {:.2f}, \"speedup_median\": {:.1f}, \"mean_jpeg_bytes\": "
      "{{\"render_jpeg\": {}, "
      "\"render_frame_encode\": {}}}}}",
      args.output_frames, args.jpeg_quality, refusal.empty() ? "splice" : "full: " + refusal,
      a.median, a.min, a.max, b.median, b.min, b.max, spread(patch_ms).median, b.median / a.median,
      splice_bytes / splice_ms.size(), full_bytes / full_ms.size());
}

Result<std::string> bench_size(const BenchAvatarOptions& args, Size size,
                               avatar::BackgroundStoreKind store) {
  const fs::path dir(args.work_dir);
  fs::create_directories(dir);
  const std::string stem = fmt::format("synthetic_{}x{}_{}", size.width, size.height, args.frames);
  const fs::path video = dir / (stem + ".mp4");
  const fs::path rects = dir / (stem + "_rects.json");
  if (!fs::exists(video) || !fs::exists(rects)) {
    RETURN_IF_ERROR(write_synthetic_avatar(video, rects, size, args.frames));
  }
  const double decode_ms = decode_only_ms(video);
  std::vector<double> load_ms, load_cpu_ms, rss_delta, peak_delta, avatar_mb;
  std::string output;
  for (int r = 0; r < args.repeat; ++r) {
    const double rss_before = proc_status_mb("VmRSS");
    reset_peak_rss();
    const double cpu_before = cpu_ms();
    ASSIGN_OR_RETURN(
        auto avatar,
        avatar::Avatar::load({.video_path = video, .rects_path = rects},
                             {.background = {.kind = store, .jpeg_quality = args.jpeg_quality}}));
    load_ms.push_back(avatar->info().load_ms);
    load_cpu_ms.push_back(cpu_ms() - cpu_before);
    rss_delta.push_back(proc_status_mb("VmRSS") - rss_before);
    peak_delta.push_back(proc_status_mb("VmHWM") - rss_before);
    avatar_mb.push_back(avatar->info().memory_bytes() / 1e6);
    if (r + 1 == args.repeat && args.output_frames > 0) {
      ASSIGN_OR_RETURN(output, bench_output(*avatar, args));
    }
  }
  const Spread load = spread(load_ms);
  return fmt::format(
      "{{\"size\": \"{}x{}\", \"frames\": {}, \"store\": \"{}\", \"repeat\": {}, "
      "\"load_ms\": {{\"median\": {:.0f}, \"min\": {:.0f}, \"max\": {:.0f}}}, "
      "\"load_cpu_ms_median\": {:.0f}, \"decode_only_ms\": {:.0f}, \"avatar_memory_mb\": {:.1f}, "
      "\"rss_delta_mb\": {:.1f}, "
      "\"peak_rss_delta_mb\": {:.1f}{}}}",
      size.width, size.height, args.frames, args.store, args.repeat, load.median, load.min,
      load.max, spread(load_cpu_ms).median, decode_ms, spread(avatar_mb).median,
      spread(rss_delta).median, spread(peak_delta).median, output);
}

}  // namespace

Status check_avatar_bench_options(const BenchAvatarOptions& args) {
  RETURN_IF_ERROR(avatar::parse_background_store_kind(args.store).status());
  if (args.frames < 2 || args.repeat < 1 || args.output_frames < 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--frames must be >= 2, --repeat >= 1 and --output-frames >= 0");
  }
  for (const std::string& text : args.sizes) RETURN_IF_ERROR(parse_size(text).status());
  return Status::ok_status();
}

Result<std::string> bench_avatar(const BenchAvatarOptions& args) {
  RETURN_IF_ERROR(check_avatar_bench_options(args));
  ASSIGN_OR_RETURN(const auto store, avatar::parse_background_store_kind(args.store));
  std::vector<std::string> cases;
  for (const std::string& text : args.sizes) {
    ASSIGN_OR_RETURN(const Size size, parse_size(text));
    ASSIGN_OR_RETURN(auto result, bench_size(args, size, store));
    cases.push_back(std::move(result));
  }
  return fmt::format(
      "{{\"benchmark\": \"avatar_cold_load\", \"hardware_threads\": {}, \"cases\": [\n  {}\n]}}",
      std::thread::hardware_concurrency(), fmt::join(cases, ",\n  "));
}

}  // namespace lipsync::bench
