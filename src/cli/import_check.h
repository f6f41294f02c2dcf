// The check `lipsync import` makes of its exports: each ONNX file runs in ONNX Runtime (CPU,
// the runtime that serves it) on the sample inputs the export wrote, and its outputs are
// compared with PyTorch's for the same inputs.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "core/status.h"

namespace lipsync::cli {

struct ExportCheck {
  std::string file;         // "unet_fp16.onnx"
  std::size_t samples = 0;  // the batch the check ran
  double max_abs_diff = 0;  // against PyTorch float32
  double tolerance = 0;     // what it had to stay within
};

// Checks unet.onnx, unet_fp16.onnx and (if `encoder`) encoder.onnx in `package` against the
// samples in `check_dir` (synctalk_export.py's names). An error names the file and the
// difference; the I/O names must be exactly those of pipeline.md.
Result<std::vector<ExportCheck>> check_exports(const std::filesystem::path& package,
                                               const std::filesystem::path& check_dir,
                                               bool encoder);

}  // namespace lipsync::cli
