// `lipsync bench avatar`: cold-load time and memory of synthetic video avatars (written once
// into work_dir); with output_frames, also the per-frame time of turning a model output into a
// served JPEG: Avatar::render_jpeg against render_frame + encode_jpeg.
//
//   RETURN_IF_ERROR(bench::check_avatar_bench_options(options));  // usage errors first
//   ASSIGN_OR_RETURN(std::string report, bench::bench_avatar(options));
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "core/status.h"

namespace lipsync::bench {

struct BenchAvatarOptions {
  std::vector<std::string> sizes = {"1920x1080", "1280x720"};  // WIDTHxHEIGHT
  int frames = 523;
  int repeat = 3;
  std::string store = "jpeg";  // raw | jpeg | jpeg_splice
  int jpeg_quality = 90;       // of the stored backgrounds (the store default) and the output JPEGs
  int output_frames = 0;       // > 0: also time this many output JPEGs per path
  std::string work_dir = (std::filesystem::temp_directory_path() / "lipsync-bench-avatar").string();
};

// INVALID_ARGUMENT for an unknown store, a size that is not WIDTHxHEIGHT, frames < 2,
// repeat < 1 or output_frames < 0.
Status check_avatar_bench_options(const BenchAvatarOptions& options);

// The JSON report (text): per size the load time (median, spread), CPU time, decode-only time,
// the avatar's memory and the process's RSS growth, and the output timings when asked. Errors:
// bad options, a failed video write or avatar load.
Result<std::string> bench_avatar(const BenchAvatarOptions& options);

}  // namespace lipsync::bench
