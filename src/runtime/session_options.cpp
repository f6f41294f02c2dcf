// Session options: from the configuration and flags (session_options_from), and as ORT's
// session options with the execution provider selected (make_ort_options).
#include "runtime/session_options.h"

#include <string>
#include <unordered_map>

#include "core/key_values.h"
#include "runtime/ort_env.h"
#include "runtime/session_impl.h"

namespace lipsync::runtime {

SessionOptions session_options_from(const RuntimeSection& runtime,
                                    const SessionOverrides& overrides) {
  SessionOptions options;
  options.provider = overrides.provider.value_or(runtime.execution_provider);
  options.intra_op_threads = overrides.intra_op_threads.value_or(runtime.intra_op_threads);
  options.device_id = overrides.device_id.value_or(runtime.device_id);
  options.cuda_ep_library = overrides.cuda_ep_library.value_or(runtime.cuda_ep_library);
  options.cuda_nhwc = overrides.cuda_nhwc.value_or(runtime.cuda_nhwc);
  options.cuda_graph = overrides.cuda_graph.value_or(runtime.cuda_graph);
  // Checked when the configuration was read; a malformed list adds nothing.
  if (auto configured = parse_key_values(runtime.cuda_options); configured.ok())
    options.cuda_options = std::move(*configured);
  if (overrides.cuda_options) {  // flags win, key by key
    for (const auto& [key, value] : *overrides.cuda_options) options.cuda_options[key] = value;
  }
  // Not in the configuration: flags only.
  if (overrides.upload_in_advance) options.upload_in_advance = *overrides.upload_in_advance;
  if (overrides.graph_optimization) options.graph_optimization = *overrides.graph_optimization;
  if (overrides.profile_prefix) options.profile_prefix = *overrides.profile_prefix;
  return options;
}

std::map<std::string, std::string> cuda_provider_options(const SessionOptions& options) {
  std::map<std::string, std::string> ep_options(options.cuda_options.begin(),
                                                options.cuda_options.end());
  ep_options.try_emplace("prefer_nhwc", options.cuda_nhwc ? "1" : "0");
  // cuDNN's runtime fusion of convolution + bias (+ ReLU) with NHWC convolutions: on an H200
  // the fp16 test UNet runs in 8.7 ms instead of 15.8 at batch 25, 3.2 instead of 5.8 at 8, 1.3
  // instead of 3.1 at 1, with the same error against fp32 (docs/performance.md, issue #20).
  // cuda_options can turn it off. Not with NCHW ones: there cuDNN finds no fused plan for the
  // fp16 audio encoder's first convolution (H100, 2026-12-06; docs/gpu.md).
  if (options.cuda_nhwc) ep_options.try_emplace("fuse_conv_bias", "1");
  if (options.cuda_graph) ep_options.emplace("enable_cuda_graph", "1");  // refused by the caller
  return ep_options;
}

namespace detail {
namespace {

GraphOptimizationLevel ort_level(GraphOptimization level) {
  switch (level) {
    case GraphOptimization::kDisable:
      return GraphOptimizationLevel::ORT_DISABLE_ALL;
    case GraphOptimization::kBasic:
      return GraphOptimizationLevel::ORT_ENABLE_BASIC;
    case GraphOptimization::kExtended:
      return GraphOptimizationLevel::ORT_ENABLE_EXTENDED;
    case GraphOptimization::kAll:
      break;
  }
  return GraphOptimizationLevel::ORT_ENABLE_ALL;
}

}  // namespace

Result<Ort::SessionOptions> make_ort_options(const SessionOptions& options,
                                             std::string* device_text, Allocators* allocators) {
  Ort::SessionOptions ort;
  ort.SetGraphOptimizationLevel(ort_level(options.graph_optimization));
  if (!options.profile_prefix.empty()) ort.EnableProfiling(options.profile_prefix.c_str());
  if (options.intra_op_threads > 0) ort.SetIntraOpNumThreads(options.intra_op_threads);
  if (options.provider != ExecutionProvider::kCuda) {
    *device_text = describe_cpu();
    return ort;
  }
  ASSIGN_OR_RETURN(auto device, cuda_ep_device(options.cuda_ep_library, options.device_id));
  if (options.cuda_options.count("enable_cuda_graph") > 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "CUDA option enable_cuda_graph: set SessionOptions::cuda_graph instead "
                      "(graphs need inputs at fixed device addresses, which it arranges)");
  }
  if (options.cuda_graph && !options.upload_in_advance) {
    return make_error(ErrorCode::kInvalidArgument,
                      "CUDA graphs need upload_in_advance (the batches' device copies)");
  }
  const auto provider_options = cuda_provider_options(options);
  const std::unordered_map<std::string, std::string> ep_options(provider_options.begin(),
                                                                provider_options.end());
  ort.AppendExecutionProvider_V2(ort_env(), {device}, ep_options);
  *device_text = describe(device);
  allocators->host = shared_allocator(device, OrtDeviceMemoryType_HOST_ACCESSIBLE);
  if (options.upload_in_advance) {
    allocators->device = shared_allocator(device, OrtDeviceMemoryType_DEFAULT);
    allocators->ep_device = device;
  }
  return ort;
}

}  // namespace detail
}  // namespace lipsync::runtime
