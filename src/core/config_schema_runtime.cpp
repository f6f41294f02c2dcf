// The keys of the `gpus`, `capacity` and `onnx` sections: where and how the models run.
#include "core/config_schema_sections.h"
#include "core/key_values.h"

namespace lipsync::schema {

std::vector<ConfigKey> gpu_and_capacity_keys() {
  return {
      integer("gpus.count", TOP(gpus.count), 0, 64,
              "With `onnx.execution_provider: cuda`, models are placed on CUDA devices "
              "0..count-1 (0: on `onnx.device_id` alone). Ignored, with a warning, on the CPU.",
              "2"),
      choice<GpuAssignment>("gpus.assignment_strategy", TOP(gpus.assignment_strategy),
                            {{"round-robin", GpuAssignment::kRoundRobin},
                             {"least-loaded", GpuAssignment::kLeastLoaded}},
                            "How a load picks its device when neither the request nor the "
                            "model's `preferred_gpu` names one: in turn, or the device with the "
                            "fewest models (then fewest bytes).",
                            "least-loaded"),
      integer("capacity.max_models", TOP(capacity.max_models), 1, 100000,
              "Models loaded at once; loading one more evicts one by `eviction_policy` (idle "
              "models first).",
              "4"),
      number("capacity.max_memory_gb", TOP(capacity.max_memory_gb), 0, 1e6,
             "Host memory budget in GB for loaded models; 0: no budget. A model counts its "
             "avatar caches (face crops and backgrounds, see `lipsync avatar inspect`), its "
             "UNet file size and, on the CPU, the arena of its UNet's activations after one batch "
             "at load (the full UNet at batch 4: 1.07 GB, about 80% of what it really takes), "
             "and stays counted while a request still uses it after eviction.",
             "12"),
      choice<EvictionPolicy>("capacity.eviction_policy", TOP(capacity.eviction_policy),
                             {{"lru", EvictionPolicy::kLru}, {"lfu", EvictionPolicy::kLfu}},
                             "Which model to evict: least recently used, or fewest uses since "
                             "it was configured (ties: least recent).",
                             "lfu"),
      integer("capacity.idle_timeout_minutes", TOP(capacity.idle_timeout_minutes), 0, 1000000,
              "Unload models unused this long (checked every 30 s; a model in use is never "
              "unloaded). 0: never.",
              "30"),
      integer("capacity.drain_wait_ms", TOP(capacity.drain_wait_ms), 0, 3600000,
              "A load over `max_memory_gb` because evicted models are still in use waits this "
              "long for them to be released, then fails with RESOURCE_EXHAUSTED.",
              "10000"),
  };
}

namespace {

// `onnx.cuda_options`: a list of KEY=VALUE items, each checked for its form (the CUDA execution
// provider checks the keys and values themselves when a session is made).
ConfigKey cuda_options_key() {
  ConfigKey key = list(
      "onnx.cuda_options", TOP(runtime.cuda_options),
      "CUDA: more options of ONNX Runtime's CUDA execution provider, KEY=VALUE, comma-separated "
      "(`lipsync bench model --cuda-option` tries them). `fuse_conv_bias=0` turns off the fused "
      "convolutions that are on by default with `cuda_nhwc`.",
      "\"arena_extend_strategy=kSameAsRequested, cudnn_conv_use_max_workspace=0\"");
  key.set = [set = key.set](ConfigTarget& t, const std::string& text) -> Status {
    RETURN_IF_ERROR(set(t, text));
    const auto parsed = parse_key_values(t.config.runtime.cuda_options);
    if (parsed.ok()) return {};
    return problem(parsed.status().message() +
                   " (a CUDA execution provider option, e.g. cudnn_conv_use_max_workspace=0)");
  };
  return key;
}

}  // namespace

std::vector<ConfigKey> onnx_keys() {
  return {
      choice<ExecutionProvider>(
          "onnx.execution_provider", TOP(runtime.execution_provider),
          {{"cpu", ExecutionProvider::kCpu}, {"cuda", ExecutionProvider::kCuda}},
          "Where the models run. `cuda` needs the CUDA execution provider "
          "libraries (`scripts/setup.sh --cuda`), CUDA 13 and cuDNN 9.",
          "cuda"),
      integer("onnx.intra_op_threads", TOP(runtime.intra_op_threads), 0, 1024,
              "Threads of one model run on the CPU; 0: ONNX Runtime's default (one per core).",
              "8"),
      integer("onnx.device_id", TOP(runtime.device_id), 0, 1024,
              "CUDA device of every model when `gpus.count` is 0.", "1"),
      path_key("onnx.cuda_ep_library", TOP(runtime.cuda_ep_library), PathBase::kConfigFolder,
               FileRole::kCudaLibrary,
               "The CUDA execution provider library; empty: `libonnxruntime_providers_cuda.so` "
               "beside the ONNX Runtime library lipsync loaded. Relative to this file.",
               "/opt/onnxruntime/lib/libonnxruntime_providers_cuda.so"),
      boolean("onnx.cuda_nhwc", TOP(runtime.cuda_nhwc),
              "CUDA: convolutions in NHWC layout, with cuDNN's fused convolution + bias (faster "
              "on tensor cores: docs/performance.md). false: NCHW convolutions, unfused.",
              "false"),
      boolean("onnx.cuda_graph", TOP(runtime.cuda_graph),
              "CUDA: replay a CUDA graph per batch size for the UNet instead of launching every "
              "kernel.",
              "true"),
      boolean("onnx.cuda_share_sessions", TOP(runtime.cuda_share_sessions),
              "CUDA: UNets that differ only in their weights (every person's SyncTalk_2D UNet) "
              "share ONNX Runtime sessions on a device, each model binding its own weights at "
              "every run: a model after the first of its architecture costs its weights in GPU "
              "memory and loads in about a second. Each convolution's bias is added after it, "
              "unfused: the UNet takes 1.4x its time per batch on an H100 (1.8x with "
              "`cuda_nhwc: false`), so it is for many models with few sessions each, not many "
              "live sessions of one (docs/gpu.md). Off, each model has sessions of its own (and "
              "CUDA graphs, with `cuda_graph`).",
              "true"),
      boolean("onnx.cuda_reserve_run_memory", TOP(runtime.cuda_reserve_run_memory),
              "CUDA: a model takes the device memory its runs of every batch size need at load "
              "and keeps it, so that a fresh server's first batches do not wait for it (on an "
              "H100, 56 live sessions' first frames 543 instead of 601 ms; one model's server "
              "holds 8.6 instead of 2.7 GB when ready). false: each size takes it at its first "
              "served run, and a server that only runs compat batches of 25 never takes it for "
              "the smaller sizes (5.3 instead of 9.2 GB after their traffic; docs/gpu.md).",
              "false"),
      cuda_options_key(),
      path_key("onnx.audio_encoder_path", TOP(runtime.audio_encoder_path), PathBase::kModelsRoot,
               FileRole::kAudioEncoder,
               "The audio encoder (ONNX: mel windows [B,1,80,16] to features [B,512]), shared by "
               "every model. Required to serve.",
               "encoder.onnx"),
  };
}

}  // namespace lipsync::schema
