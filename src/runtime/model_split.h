// Internal to module `runtime`: an ONNX model file split into its architecture and its weights,
// so that models that differ only in their weights share ORT sessions on a device
// (SessionOptions::share_architecture): each model then holds its weights, not sessions of its
// own. The weights split off are the kernels and biases of Conv nodes (a SyncTalk_2D UNet's are
// all of its parameters); every other initializer stays in the graph and in the key.
//
//   ASSIGN_OR_RETURN(SplitModel split, split_model("unet.onnx"));
//   Ort::Session shared(env, split.graph.data(), split.graph.size(), options);  // once
//   // each run binds its model's split.weights[i] to input split.weights[i].name
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/status.h"

namespace lipsync::runtime::detail {

// One weight as stored in the file.
struct Weight {
  std::string name;
  int32_t element_type = 0;  // ONNX's TensorProto data type: 1 float32, 10 float16
  std::vector<int64_t> dims;
  std::string bytes;  // the values, little-endian (ONNX's raw_data layout)
};

struct SplitModel {
  // The model with each split-off weight turned from an initializer into a graph input of the
  // same name, type and shape: what shared sessions are created from. Two models whose graphs
  // are equal byte for byte can share sessions. Empty when nothing can be split (no Conv
  // weights of type float32 or float16, or weights stored in external data files).
  std::string graph;
  std::vector<Weight> weights;
  std::string why_not;  // graph empty: why, in words
};

// How the split graph takes its weights.
enum class SplitLayout {
  // Kernels and biases as stored (OIHW, [C]), the Conv nodes unchanged: for NCHW convolutions.
  kNchw,
  // For CUDA's NHWC convolutions (SessionOptions::cuda_nhwc). ONNX Runtime 1.29 reads a kernel
  // that is not a constant as NHWC only when the node's bias is a constant it prepacks, so each
  // kernel is given as OHWI (dims [O,KH,KW,I]; the node's `kernel_shape` is set), each Conv
  // keeps a constant zero bias, and an Add node after it adds its model's bias, a [1,C,1,1]
  // input. On an H100 this form ran the fp16 UNet at 1.4x the fused default's time, against
  // 1.8x for kNchw (docs/gpu.md).
  kNhwc,
};

// Reads and splits `file`. Errors: the file cannot be read or is not an ONNX model.
Result<SplitModel> split_model(const std::filesystem::path& file,
                               SplitLayout layout = SplitLayout::kNchw);

}  // namespace lipsync::runtime::detail
