// `lipsync bench jpeg`: per-frame JPEG output by splicing (composite the face patch + encode its
// MCUs + splice) against compositing into a full decoded frame and encoding it whole, and the
// memory of an avatar's background store against decoded RGBA frames. One thread; warm-up first;
// JSON with median and spread.
#include "bench/jpeg_bench.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "bench/synthetic_image.h"
#include "core/clock.h"
#include "media/jpeg_background.h"
#include "media/jpeg_codec.h"

namespace lipsync::bench {
namespace {

struct FrameSize {
  int width;
  int height;
  int face_px;  // side of the square face rect, within the realistic 180-320 px
};

constexpr FrameSize kSizes[] = {
    {1280, 720, 180}, {1280, 720, 320}, {1920, 1080, 180}, {1920, 1080, 250}, {1920, 1080, 320}};
constexpr int kLargestFacePx = 320;  // the memory test stores the region of the largest face

using Clock = std::chrono::steady_clock;

nlohmann::json summarize(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) { return ms[static_cast<std::size_t>(q * (ms.size() - 1))]; };
  return {{"median_ms", at(0.5)}, {"p10_ms", at(0.1)},   {"p90_ms", at(0.9)},
          {"min_ms", ms.front()}, {"max_ms", ms.back()}, {"iterations", ms.size()}};
}

// The face rect's top-left for iteration i: centred at (50%, 45%) of the frame, wandering.
std::pair<int, int> face_origin(const FrameSize& size, int jitter, std::mt19937& rng) {
  int x = size.width / 2 - size.face_px / 2 + static_cast<int>(rng() % (2 * jitter + 1)) - jitter;
  int y = size.height * 45 / 100 - size.face_px / 2 + static_cast<int>(rng() % (2 * jitter + 1)) -
          jitter;
  return {x, y};
}

Rect face_union(const FrameSize& size, int jitter) {
  int x = size.width / 2 - size.face_px / 2;
  int y = size.height * 45 / 100 - size.face_px / 2;
  return {x - jitter, y - jitter, x + size.face_px + jitter, y + size.face_px + jitter};
}

void paste(const Image& patch, int x, int y, Image* frame) {
  for (int row = 0; row < patch.height; ++row) {
    std::memcpy(frame->pixels.data() + (static_cast<std::size_t>(y + row) * frame->width + x) * 3,
                patch.pixels.data() + static_cast<std::size_t>(row) * patch.stride(),
                patch.stride());
  }
}

using FrameFn = std::function<Result<std::vector<std::uint8_t>>()>;

// Times the variants interleaved frame by frame, so that load changes hit them alike.
Result<std::vector<nlohmann::json>> time_frames(const BenchJpegOptions& options,
                                                const std::vector<FrameFn>& variants) {
  std::vector<std::vector<double>> ms(variants.size());
  std::vector<std::size_t> bytes(variants.size());
  for (int i = 0; i < options.warmup + options.iterations; ++i) {
    for (std::size_t v = 0; v < variants.size(); ++v) {
      auto start = Clock::now();
      auto jpeg = variants[v]();
      const double elapsed = ms_since(start);
      if (!jpeg.ok()) return jpeg.status();
      if (i >= options.warmup) ms[v].push_back(elapsed);
      bytes[v] = jpeg->size();
    }
  }
  std::vector<nlohmann::json> results;
  for (std::size_t v = 0; v < variants.size(); ++v) {
    results.push_back(summarize(std::move(ms[v])));
    results.back()["jpeg_bytes"] = bytes[v];
  }
  return results;
}

Result<nlohmann::json> bench_speed(const FrameSize& size, const BenchJpegOptions& options,
                                   const media::JpegSettings& settings) {
  Image frame = make_synthetic_frame(size.width, size.height, 1);
  Image face = make_synthetic_frame(size.face_px, size.face_px, 2);
  ASSIGN_OR_RETURN(
      auto background,
      media::JpegBackground::create(frame.view(), face_union(size, options.jitter_px), settings));
  std::mt19937 rng(3);
  std::pair<int, int> origin;
  Image composite;
  FrameFn spliced = [&]() -> Result<std::vector<std::uint8_t>> {
    origin = face_origin(size, options.jitter_px, rng);  // the next frame's face position
    return background.compose(face.view(), origin.first, origin.second);
  };
  FrameFn full = [&] {
    composite = frame;  // the decoded background stays pristine
    paste(face, origin.first, origin.second, &composite);
    return media::encode_jpeg(composite.view(), settings);
  };
  FrameFn encode_only = [&] { return media::encode_jpeg(composite.view(), settings); };
  ASSIGN_OR_RETURN(auto timings, time_frames(options, {spliced, full, encode_only}));
  auto median = [](const nlohmann::json& j) { return j["median_ms"].get<double>(); };
  auto fastest = [](const nlohmann::json& j) { return j["min_ms"].get<double>(); };
  return nlohmann::json{{"width", size.width},
                        {"height", size.height},
                        {"face_rect_px", size.face_px},
                        {"spliced", timings[0]},
                        {"full_copy_composite_encode", timings[1]},
                        {"full_encode_only", timings[2]},
                        {"speedup_median", median(timings[1]) / median(timings[0])},
                        {"speedup_vs_encode_only_median", median(timings[2]) / median(timings[0])},
                        {"speedup_min", fastest(timings[1]) / fastest(timings[0])}};
}

// A distinct frame per avatar frame: a slowly moving scene with fresh noise.
Result<nlohmann::json> bench_memory(const FrameSize& size, const BenchJpegOptions& options,
                                    const media::JpegSettings& settings) {
  constexpr int kMargin = 64;
  Image scene = make_synthetic_frame(size.width + kMargin, size.height + kMargin, 4);
  Image frame(size.width, size.height);
  std::mt19937 rng(5);
  std::size_t store_bytes = 0;
  std::size_t jpeg_bytes = 0;
  Rect region = face_union(size, options.jitter_px);
  for (int i = 0; i < options.memory_frames; ++i) {
    int dx = (i * 7) % kMargin;
    int dy = (i * 3) % kMargin;
    for (int y = 0; y < size.height; ++y) {
      const std::uint8_t* src = scene.pixels.data() + ((y + dy) * scene.width + dx) * 3;
      std::uint8_t* dst = frame.pixels.data() + static_cast<std::size_t>(y) * frame.stride();
      for (std::size_t k = 0; k < frame.stride(); ++k) {
        dst[k] =
            static_cast<std::uint8_t>(std::clamp(src[k] + static_cast<int>(rng() % 9) - 4, 0, 255));
      }
    }
    ASSIGN_OR_RETURN(auto background,
                     media::JpegBackground::create(frame.view(), region, settings));
    store_bytes += background.memory_bytes();
    jpeg_bytes += background.jpeg().size();
  }
  double rgba_bytes = 4.0 * size.width * size.height * options.memory_frames;
  Rect stored = media::JpegBackground::create(frame.view(), region, settings)->editable_region();
  return nlohmann::json{{"width", size.width},
                        {"height", size.height},
                        {"frames", options.memory_frames},
                        {"face_rect_px", size.face_px},
                        {"jitter_px", options.jitter_px},
                        {"stored_region", {stored.x1, stored.y1, stored.x2, stored.y2}},
                        {"store_bytes", store_bytes},
                        {"of_which_jpeg_bytes", jpeg_bytes},
                        {"rgba_bytes", rgba_bytes},
                        {"store_vs_rgba", store_bytes / rgba_bytes}};
}

std::string cpu_name() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

std::string size_name(const FrameSize& size) {
  return fmt::format("{}x{}", size.width, size.height);
}

bool selected(const FrameSize& size, const BenchJpegOptions& options) {
  return options.sizes.empty() || std::find(options.sizes.begin(), options.sizes.end(),
                                            size_name(size)) != options.sizes.end();
}

}  // namespace

Status check_jpeg_bench_options(const BenchJpegOptions& options) {
  for (const std::string& name : options.sizes) {
    if (std::none_of(std::begin(kSizes), std::end(kSizes),
                     [&](const FrameSize& size) { return size_name(size) == name; })) {
      return make_error(ErrorCode::kInvalidArgument,
                        "--sizes '{}' is not one of 1280x720, 1920x1080", name);
    }
  }
  return Status::ok_status();
}

Result<nlohmann::json> bench_jpeg(const BenchJpegOptions& options) {
  RETURN_IF_ERROR(check_jpeg_bench_options(options));
  media::JpegSettings settings{options.quality, options.subsampling_444
                                                    ? media::ChromaSubsampling::k444
                                                    : media::ChromaSubsampling::k420};
  const char* commit = std::getenv("LIPSYNC_COMMIT");
  nlohmann::json report{{"benchmark", "jpeg"},
                        {"commit", commit != nullptr ? commit : "unknown"},
                        {"device", cpu_name()},
                        {"threads", 1},
                        {"quality", settings.quality},
                        {"subsampling", options.subsampling_444 ? "4:4:4" : "4:2:0"},
                        {"speed", nlohmann::json::array()},
                        {"memory", nlohmann::json::array()}};
  for (const FrameSize& size : kSizes) {
    if (!selected(size, options)) continue;
    ASSIGN_OR_RETURN(auto speed, bench_speed(size, options, settings));
    report["speed"].push_back(std::move(speed));
    if (size.face_px != kLargestFacePx) continue;
    ASSIGN_OR_RETURN(auto memory, bench_memory(size, options, settings));
    report["memory"].push_back(std::move(memory));
  }
  return report;
}

}  // namespace lipsync::bench
