// `lipsync bench jpeg`: per-frame JPEG output by splicing (composite the face patch + encode its
// MCUs + splice) against compositing into a full decoded frame and encoding it whole, and the
// memory of an avatar's background store against decoded RGBA frames. One thread; warm-up
// first; synthetic natural-looking frames (bench/synthetic_image.h).
//
//   ASSIGN_OR_RETURN(nlohmann::json report, bench::bench_jpeg({.sizes = {"1280x720"}}));
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/status.h"

namespace lipsync::bench {

struct BenchJpegOptions {
  int iterations = 100;
  int warmup = 10;
  int memory_frames = 523;  // the avatar size the issue names
  int quality = 75;         // ref: pipeline.md §6.4
  bool subsampling_444 = false;
  int jitter_px = 24;              // how far the face rect wanders between frames (head motion)
  std::vector<std::string> sizes;  // frame sizes to run ("1280x720"); empty: every size
};

// INVALID_ARGUMENT for a size that is not 1280x720 or 1920x1080: a usage error, checked before
// anything runs.
Status check_jpeg_bench_options(const BenchJpegOptions& options);

// The JSON report: per frame size and face size the spliced and full-encode timings (median,
// spread, speed-up), and for the largest face the background store's memory. Errors: bad
// options, an encoder error (e.g. quality out of range).
Result<nlohmann::json> bench_jpeg(const BenchJpegOptions& options);

}  // namespace lipsync::bench
