// How a Session is created (execution provider, threads, CUDA settings), and the one place that
// builds those options: from the `runtime:` configuration, with explicit overrides (CLI flags).
// A new option is added to SessionOptions, RuntimeSection/SessionOverrides and
// session_options_from() together, so no caller can miss it.
//
//   SessionOptions options = session_options_from(config.runtime, {.intra_op_threads = 4});
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "core/config.h"

namespace lipsync::runtime {

// ORT's graph optimization level (GraphOptimizationLevel): which rewrites run at load.
enum class GraphOptimization { kDisable, kBasic, kExtended, kAll };

struct SessionOptions {
  ExecutionProvider provider = ExecutionProvider::kCpu;
  int intra_op_threads = 0;  // 0 = ORT default
  int device_id = 0;         // CUDA ordinal when provider is kCuda
  std::filesystem::path
      cuda_ep_library;  // empty: libonnxruntime_providers_cuda.so beside libonnxruntime.so
  std::map<std::string, std::string>
      cuda_options;  // extra CUDA EP options, e.g. {"cudnn_conv_algo_search", "HEURISTIC"}
  // CUDA: convolutions in NHWC layout (the EP's prefer_nhwc; cuda_options["prefer_nhwc"] wins).
  // On the H100 the fp16 test UNet's run at batch 25 takes 17.2 ms with it, 17.5 ms without.
  bool cuda_nhwc = true;
  // CUDA: a Session::Batch keeps device copies of its inputs and outputs, so that the copies
  // happen outside the run (Session::upload) instead of inside it.
  bool upload_in_advance = true;
  // CUDA, with upload_in_advance: execute() replays a CUDA graph per batch size once that size
  // has run a few times (up to 4 sizes per session), instead of launching every kernel. The
  // batch is copied on the device into and out of the graph's own tensors around the run.
  bool cuda_graph = false;
  // CUDA, a model with a dynamic batch: these batch sizes run on ORT sessions of their own (the
  // model loaded once more for each); every other size runs on the first session. ORT's fused
  // cuDNN convolutions (fuse_conv_bias) keep the plan of the last input shape only, so one
  // session that alternates shapes builds (compiles) every plan again at each change: on the
  // H100 a UNet batch of another size than the one before took 8-10 s instead of milliseconds.
  std::vector<int64_t> batch_sessions;
  // Models whose ONNX files differ only in their Conv weights (one architecture, e.g. every
  // person's SyncTalk_2D UNet) share ORT sessions, one per batch size and device: the first
  // such model creates them from its graph with the Conv weights turned into inputs, and every
  // model binds its own weights (held on the device) at each run. A later model then costs its
  // weights in memory, and its warm-up finds the plans built. CUDA graphs are not used for
  // shared sessions. A model that cannot be split (weights in external files, no Conv) gets
  // sessions of its own, as without this option.
  bool share_architecture = false;
  // ORT's rewrites at load (constant folding, Conv+activation fusion, layout changes, ...).
  GraphOptimization graph_optimization = GraphOptimization::kAll;
  // Non-empty: ORT's profiler records every run and node (host-side times: on CUDA they are
  // launch times unless CUDA_LAUNCH_BLOCKING=1) into PREFIX_<timestamp>.json, written by
  // Session::end_profiling() or when the session ends.
  std::string profile_prefix;
};

// What a command's flags say on top of the configuration; an unset field keeps the configured
// value (or the default, for commands that read no configuration).
struct SessionOverrides {
  std::optional<ExecutionProvider> provider;
  std::optional<int> intra_op_threads;
  std::optional<int> device_id;
  std::optional<std::filesystem::path> cuda_ep_library;
  std::optional<std::map<std::string, std::string>> cuda_options;
  std::optional<bool> cuda_nhwc;
  std::optional<bool> upload_in_advance;
  std::optional<bool> cuda_graph;
  std::optional<GraphOptimization> graph_optimization;
  std::optional<std::string> profile_prefix;
};

// The `runtime:` section of the configuration as session options, then `overrides`.
SessionOptions session_options_from(const RuntimeSection& runtime,
                                    const SessionOverrides& overrides = {});

// The CUDA execution provider's options a session of `options` is made with: cuda_options, then
// the layout (prefer_nhwc) and, with NHWC convolutions, cuDNN's fused convolution + bias, each
// unless cuda_options names it.
std::map<std::string, std::string> cuda_provider_options(const SessionOptions& options);

}  // namespace lipsync::runtime
