// `lipsync bench audio`: the audio front-end's speed on one core (the process is pinned to the
// core it starts on) and the audio encoder's time per window on the CPU.
//
//   ASSIGN_OR_RETURN(nlohmann::json report, bench::bench_audio({.encoders = {"encoder.onnx"}}));
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/status.h"

namespace lipsync::bench {

struct BenchAudioOptions {
  std::string audio;                  // empty: 20 s of synthetic audio
  std::vector<std::string> encoders;  // empty: encoder_tiny.onnx and encoder.onnx in models_dir
  std::string models_dir;
  std::vector<int> batches{1, 64};
  int iterations = 15;
  int warmup = 3;
  int threads = 1;  // ORT intra-op threads for the encoder
};

// The JSON report: mel + windows of the whole clip and streaming mel in 20 ms chunks (median,
// spread, realtime factor), then per encoder and batch size the time per window. Errors: an
// unreadable audio file, an encoder that does not load or run.
Result<nlohmann::json> bench_audio(BenchAudioOptions options);

}  // namespace lipsync::bench
