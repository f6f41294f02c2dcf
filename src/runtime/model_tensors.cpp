#include "runtime/model_tensors.h"

#include <fmt/format.h>

#include <algorithm>

namespace lipsync::runtime::detail {
namespace {

std::string type_text(ONNXTensorElementDataType type) {
  switch (type) {
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT:
      return "float32";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16:
      return "float16";
    default:
      return fmt::format("element type {}", static_cast<int>(type));
  }
}

std::string describe(const std::vector<ModelTensor>& tensors) {
  std::vector<std::string> parts;
  for (const auto& t : tensors)
    parts.push_back(fmt::format("'{}' {} {}", t.name, shape_text(t.shape), type_text(t.type)));
  return fmt::format("{}", fmt::join(parts, ", "));
}

}  // namespace

std::string shape_text(const std::vector<int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ","));
}

std::vector<ModelTensor> read_tensors(const Ort::Session& session, bool inputs) {
  Ort::AllocatorWithDefaultOptions allocator;
  const std::size_t count = inputs ? session.GetInputCount() : session.GetOutputCount();
  std::vector<ModelTensor> tensors(count);
  for (std::size_t i = 0; i < count; ++i) {
    auto name = inputs ? session.GetInputNameAllocated(i, allocator)
                       : session.GetOutputNameAllocated(i, allocator);
    auto type_info = inputs ? session.GetInputTypeInfo(i) : session.GetOutputTypeInfo(i);
    tensors[i].name = name.get();
    if (type_info.GetONNXType() != ONNX_TYPE_TENSOR) continue;
    auto info = type_info.GetTensorTypeAndShapeInfo();
    tensors[i].shape = info.GetShape();
    tensors[i].type = info.GetElementType();
  }
  return tensors;
}

Status resolve(const std::filesystem::path& path, const char* kind,
               std::vector<TensorSpec>& expected, const std::vector<ModelTensor>& actual,
               std::vector<ModelTensor>& matched) {
  if (expected.size() != actual.size()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "model '{}': expected {} {}(s), the model has {}: {}", path.string(),
                      expected.size(), kind, actual.size(), describe(actual));
  }
  for (auto& spec : expected) {
    auto it = spec.name.empty() && actual.size() == 1
                  ? actual.begin()
                  : std::find_if(actual.begin(), actual.end(),
                                 [&](const auto& t) { return t.name == spec.name; });
    if (it == actual.end()) {
      return make_error(ErrorCode::kInvalidArgument,
                        "model '{}': expected {} '{}' not found; the model has {}", path.string(),
                        kind, spec.name, describe(actual));
    }
    bool same = it->shape.size() == spec.shape.size();
    for (std::size_t d = 0; same && d < spec.shape.size(); ++d) {
      same = spec.shape[d] < 0 || it->shape[d] < 0 || spec.shape[d] == it->shape[d];
    }
    if (!same) {
      return make_error(ErrorCode::kInvalidArgument,
                        "model '{}': {} '{}' has shape {}, expected {}", path.string(), kind,
                        it->name, shape_text(it->shape), shape_text(spec.shape));
    }
    if (it->type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT &&
        it->type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16) {
      return make_error(ErrorCode::kInvalidArgument,
                        "model '{}': {} '{}' is {}, expected float32 or float16", path.string(),
                        kind, it->name, type_text(it->type));
    }
    spec.name = it->name;
    for (std::size_t d = 0; d < spec.shape.size(); ++d)
      spec.shape[d] = std::max(spec.shape[d], it->shape[d]);
    matched.push_back(*it);
  }
  return {};
}

Status check_inputs_are_concrete(const std::filesystem::path& path,
                                 const std::vector<TensorSpec>& inputs,
                                 const std::vector<ModelTensor>& matched) {
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].shape.empty() || values_per_frame(inputs[i]) < 0) {
      return make_error(
          ErrorCode::kInvalidArgument,
          "model '{}': input '{}' has shape {}; every dimension after the batch must be known",
          path.string(), inputs[i].name, shape_text(inputs[i].shape));
    }
    if (matched[i].type != matched[0].type) {
      return make_error(ErrorCode::kInvalidArgument, "model '{}': inputs mix {} and {}",
                        path.string(), type_text(matched[0].type), type_text(matched[i].type));
    }
  }
  return {};
}

}  // namespace lipsync::runtime::detail
