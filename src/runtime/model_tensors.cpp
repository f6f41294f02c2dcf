#include "runtime/model_tensors.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/log.h"

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

constexpr std::size_t kNone = static_cast<std::size_t>(-1);

std::string describe(const std::vector<ModelTensor>& tensors) {
  std::vector<std::string> parts;
  for (const auto& t : tensors)
    parts.push_back(fmt::format("'{}' {} {}", t.name, shape_text(t.shape), type_text(t.type)));
  return fmt::format("{}", fmt::join(parts, ", "));
}

std::string describe(const std::vector<TensorSpec>& specs) {
  std::vector<std::string> parts;
  for (const auto& s : specs)
    parts.push_back(
        fmt::format("'{}' {}", s.name.empty() ? "(any name)" : s.name, shape_text(s.shape)));
  return fmt::format("{}", fmt::join(parts, ", "));
}

// Same rank, and every dimension known on both sides agrees (-1: dynamic).
bool same_shape(const TensorSpec& spec, const ModelTensor& tensor) {
  if (tensor.shape.size() != spec.shape.size()) return false;
  for (std::size_t d = 0; d < spec.shape.size(); ++d) {
    if (spec.shape[d] >= 0 && tensor.shape[d] >= 0 && spec.shape[d] != tensor.shape[d])
      return false;
  }
  return true;
}

// chosen[s]: the index in `actual` of the tensor named as expected[s] (a nameless spec takes
// a single tensor), or kNone. A tensor with the right name and the wrong shape is an error.
Status match_by_name(const std::filesystem::path& path, const char* kind,
                     const std::vector<TensorSpec>& expected,
                     const std::vector<ModelTensor>& actual, std::vector<std::size_t>& chosen) {
  chosen.assign(expected.size(), kNone);
  for (std::size_t s = 0; s < expected.size(); ++s) {
    for (std::size_t a = 0; a < actual.size(); ++a) {
      const bool named =
          expected[s].name.empty() ? actual.size() == 1 : actual[a].name == expected[s].name;
      if (named) chosen[s] = a;
    }
    if (chosen[s] != kNone && !same_shape(expected[s], actual[chosen[s]])) {
      return make_error(ErrorCode::kInvalidArgument,
                        "model '{}': {} '{}' has shape {}, expected {}", path.string(), kind,
                        actual[chosen[s]].name, shape_text(actual[chosen[s]].shape),
                        shape_text(expected[s].shape));
    }
  }
  return {};
}

// Exports with other names (torch's default `input.1`, `input.177`) are taken when the shapes
// tell the tensors apart: each spec not matched by name gets the one remaining tensor of its
// shape. The mapping is logged.
Status match_by_shape(const std::filesystem::path& path, const char* kind,
                      const std::vector<TensorSpec>& expected,
                      const std::vector<ModelTensor>& actual, std::vector<std::size_t>& chosen) {
  std::vector<bool> taken(actual.size(), false);
  for (std::size_t c : chosen) {
    if (c != kNone) taken[c] = true;
  }
  std::vector<std::string> mapping;
  for (std::size_t s = 0; s < expected.size(); ++s) {
    if (chosen[s] != kNone) continue;
    std::vector<std::size_t> candidates;
    for (std::size_t a = 0; a < actual.size(); ++a) {
      if (!taken[a] && same_shape(expected[s], actual[a])) candidates.push_back(a);
    }
    if (candidates.size() != 1) {
      return make_error(ErrorCode::kInvalidArgument,
                        "model '{}': no {} named '{}' and {} of its shape {}; expected {}s {}; "
                        "the model has {} (see docs/models.md for the export)",
                        path.string(), kind, expected[s].name,
                        candidates.empty() ? "none" : std::to_string(candidates.size()),
                        shape_text(expected[s].shape), kind, describe(expected), describe(actual));
    }
    chosen[s] = candidates[0];
    taken[chosen[s]] = true;
    mapping.push_back(fmt::format("'{}' {} as '{}'", actual[chosen[s]].name,
                                  shape_text(actual[chosen[s]].shape), expected[s].name));
  }
  if (!mapping.empty()) {
    LOG_INFO("runtime", "model '{}': {}s recognised by their shapes: {}", path.string(), kind,
             fmt::join(mapping, ", "));
  }
  return {};
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
                      "model '{}': expected {} {}(s) {}, the model has {}: {}", path.string(),
                      expected.size(), kind, describe(expected), actual.size(), describe(actual));
  }
  std::vector<std::size_t> chosen;
  RETURN_IF_ERROR(match_by_name(path, kind, expected, actual, chosen));
  RETURN_IF_ERROR(match_by_shape(path, kind, expected, actual, chosen));
  for (std::size_t s = 0; s < expected.size(); ++s) {
    const ModelTensor& tensor = actual[chosen[s]];
    if (tensor.type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT &&
        tensor.type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16) {
      return make_error(ErrorCode::kInvalidArgument,
                        "model '{}': {} '{}' is {}, expected float32 or float16", path.string(),
                        kind, tensor.name, type_text(tensor.type));
    }
    auto& spec = expected[s];
    spec.name = tensor.name;
    for (std::size_t d = 0; d < spec.shape.size(); ++d)
      spec.shape[d] = std::max(spec.shape[d], tensor.shape[d]);
    matched.push_back(tensor);
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
    if (inputs[i].shape[0] != inputs[0].shape[0]) {
      return make_error(ErrorCode::kInvalidArgument,
                        "model '{}': inputs '{}' {} and '{}' {} disagree on the batch dimension; "
                        "export with one dynamic (or one fixed) batch axis",
                        path.string(), inputs[0].name, shape_text(inputs[0].shape), inputs[i].name,
                        shape_text(inputs[i].shape));
    }
  }
  return {};
}

}  // namespace lipsync::runtime::detail
