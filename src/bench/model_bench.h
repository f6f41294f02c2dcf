// `lipsync bench model`: frames per second of a UNet (and optionally the audio encoder) alone,
// through runtime::Session, per batch size: run_into(), execute() of an uploaded batch alone,
// optionally pipelined on three threads (the server's way) and concurrent runs.
//
//   ASSIGN_OR_RETURN(nlohmann::json report, bench::bench_model({.model = "unet.onnx"}));
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/status.h"

namespace lipsync::bench {

struct BenchModelOptions {
  std::string model;
  std::string encoder;
  std::vector<int> batches{1, 8, 25, 64};
  bool cuda = false;
  bool fp16 = false;
  int threads = 0;
  int iterations = 20;
  int warmup = 3;
  int device_id = 0;
  int concurrency = 1;
  bool pipelined = false;
  bool execute_only = false;
  bool upload_in_advance = true;
  bool cuda_nhwc = true;
  bool cuda_graph = false;
  std::string graph_optimization = "all";  // ORT's level: disable, basic, extended, all
  std::string cuda_ep_library;
  std::vector<std::string> cuda_options;  // KEY=VALUE
  // Non-empty: ORT's profile of every run goes to PROFILE_<part>_<timestamp>.json (part = unet,
  // encoder); the report names the file. tools/ort_profile_table.py turns it into tables.
  std::string profile;
  // Non-empty: per batch size, the outputs of the run on the seeded random inputs go to
  // SAVE_OUTPUTS/<part>_b<batch>.npy (float32), so that variants can be compared for exactness.
  std::string save_outputs;
};

// The JSON report: per model part ("unet", and "encoder" when set) its precision, provider and
// device, and per batch size the timings (median, spread, fps). Errors: a model that does not
// load or does not match pipeline.md §8's I/O, --fp16 with a float32 model, a malformed CUDA
// option, a failed run, a profile or output file that cannot be written.
Result<nlohmann::json> bench_model(const BenchModelOptions& options);

}  // namespace lipsync::bench
