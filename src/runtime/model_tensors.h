// Internal to module `runtime`: what an ONNX model declares for its inputs and outputs, and the
// checks of a Session's expected tensor specs against it (names, shapes, element types). Errors
// name the model file and the mismatch. Not included outside src/runtime (it exposes ORT types).
#pragma once

#include <onnxruntime_cxx_api.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/status.h"
#include "runtime/session.h"

namespace lipsync::runtime::detail {

// What the model declares for one input or output.
struct ModelTensor {
  std::string name;
  std::vector<int64_t> shape;
  ONNXTensorElementDataType type = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
};

// "[-1,6,320,320]"
std::string shape_text(const std::vector<int64_t>& shape);

// The model's inputs (or outputs), in order.
std::vector<ModelTensor> read_tensors(const Ort::Session& session, bool inputs);

// Matches expected specs to the model's tensors, by name, else by shape (logged); fills names
// and dimensions (a fixed batch too) from the model. Errors name the expected shapes.
Status resolve(const std::filesystem::path& path, const char* kind,
               std::vector<TensorSpec>& expected, const std::vector<ModelTensor>& actual,
               std::vector<ModelTensor>& matched);

// Every input dimension after the batch is known, and all inputs have one element type and
// one batch dimension (dynamic, or fixed: then runs take exactly that many frames).
Status check_inputs_are_concrete(const std::filesystem::path& path,
                                 const std::vector<TensorSpec>& inputs,
                                 const std::vector<ModelTensor>& matched);

}  // namespace lipsync::runtime::detail
