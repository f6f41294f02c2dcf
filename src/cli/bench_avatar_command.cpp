// `lipsync bench avatar`: cold-load time and memory of synthetic video avatars (JSON output).
#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>
#include <vector>

#include "avatar/avatar.h"
#include "cli/commands.h"
#include "core/log.h"
#include "imaging/crop_rects.h"
#include "media/video_decoder.h"
#include "media/video_writer.h"

namespace lipsync::cli {
namespace {

namespace fs = std::filesystem;

struct BenchArgs {
  std::vector<std::string> sizes = {"1920x1080", "1280x720"};
  int frames = 523;
  int repeat = 3;
  std::string store = "jpeg";
  std::string work_dir = (fs::temp_directory_path() / "lipsync-bench-avatar").string();
};

struct Size {
  int width = 0;
  int height = 0;
};

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
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

Result<std::string> bench_size(const BenchArgs& args, Size size,
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
  for (int r = 0; r < args.repeat; ++r) {
    const double rss_before = proc_status_mb("VmRSS");
    reset_peak_rss();
    const double cpu_before = cpu_ms();
    ASSIGN_OR_RETURN(auto avatar, avatar::Avatar::load({.video_path = video, .rects_path = rects},
                                                       {.background = {.kind = store}}));
    load_ms.push_back(avatar->info().load_ms);
    load_cpu_ms.push_back(cpu_ms() - cpu_before);
    rss_delta.push_back(proc_status_mb("VmRSS") - rss_before);
    peak_delta.push_back(proc_status_mb("VmHWM") - rss_before);
    avatar_mb.push_back(avatar->info().memory_bytes() / 1e6);
  }
  const Spread load = spread(load_ms);
  return fmt::format(
      "{{\"size\": \"{}x{}\", \"frames\": {}, \"store\": \"{}\", \"repeat\": {}, "
      "\"load_ms\": {{\"median\": {:.0f}, \"min\": {:.0f}, \"max\": {:.0f}}}, "
      "\"load_cpu_ms_median\": {:.0f}, \"decode_only_ms\": {:.0f}, \"avatar_memory_mb\": {:.1f}, "
      "\"rss_delta_mb\": {:.1f}, "
      "\"peak_rss_delta_mb\": {:.1f}}}",
      size.width, size.height, args.frames, args.store, args.repeat, load.median, load.min,
      load.max, spread(load_cpu_ms).median, decode_ms, spread(avatar_mb).median,
      spread(rss_delta).median, spread(peak_delta).median);
}

int run(const BenchArgs& args) {
  auto store = avatar::parse_background_store_kind(args.store);
  if (!store.ok() || args.frames < 2 || args.repeat < 1) {
    fmt::print(stderr, "error: {}\n",
               store.ok() ? "--frames must be >= 2 and --repeat >= 1" : store.status().message());
    return 2;
  }
  std::vector<std::string> cases;
  for (const std::string& text : args.sizes) {
    Size size;
    if (std::sscanf(text.c_str(), "%dx%d", &size.width, &size.height) != 2) {
      fmt::print(stderr, "error: size '{}' is not WIDTHxHEIGHT\n", text);
      return 2;
    }
    auto result = bench_size(args, size, *store);
    if (!result.ok()) {
      fmt::print(stderr, "error: {}\n", result.status().message());
      return 1;
    }
    cases.push_back(*result);
  }
  fmt::print(
      "{{\"benchmark\": \"avatar_cold_load\", \"hardware_threads\": {}, \"cases\": [\n  {}\n]}}\n",
      std::thread::hardware_concurrency(), fmt::join(cases, ",\n  "));
  return 0;
}

void add(CLI::App& app, Action* action) {
  auto& bench = subcommand_group(app, "bench", "Benchmarks");
  auto args = std::make_shared<BenchArgs>();
  auto* cmd = bench.add_subcommand("avatar", "Cold load of synthetic video avatars: time, memory");
  cmd->add_option("--sizes", args->sizes, "Frame sizes WIDTHxHEIGHT")->capture_default_str();
  cmd->add_option("--frames", args->frames, "Frames per video")->capture_default_str();
  cmd->add_option("--repeat", args->repeat, "Loads per size (median reported)")
      ->capture_default_str();
  cmd->add_option("--store", args->store, "Background store: raw|jpeg|jpeg_splice")
      ->capture_default_str();
  cmd->add_option("--work-dir", args->work_dir, "Where the synthetic videos are cached")
      ->capture_default_str();
  cmd->callback([action, args] { *action = [args] { return run(*args); }; });
}

}  // namespace

LIPSYNC_REGISTER_COMMAND(add);

}  // namespace lipsync::cli
