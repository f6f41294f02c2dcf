// `lipsync config check`: everything `serve` would do with a configuration, without serving.
// Beyond the parser (schema keys, values, cross-key rules): every file the schema marks as one
// (config_schema.h FileRole) exists; the audio encoder opens with the configured runtime (so a
// CUDA set-up is tried too); each model loads as the server loads it (UNet opened on the CPU
// and its input/output shapes checked, frames decoded, rects read and matched to the frames);
// each listening address can be bound on this machine.
#pragma once

#include <string>
#include <vector>

#include "core/config.h"

namespace lipsync::cli {

struct CheckReport {
  std::vector<std::string> errors;  // each names the key or model, the problem, what to do
  std::vector<std::string> warnings;
  std::vector<std::string> notes;  // what was checked and found, one line each
};

struct CheckOptions {
  bool load_models = true;  // false: files must exist, but models and avatars are not opened
};

CheckReport check_config(const Config& config, const CheckOptions& options = {});

}  // namespace lipsync::cli
