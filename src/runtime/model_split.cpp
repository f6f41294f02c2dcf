// Splits an ONNX model into its architecture and its Conv weights (model_split.h). ONNX's own
// parser is not part of ORT's public API, so the file is read with a subset of ONNX's schema
// (onnx_graph.proto); fields outside it pass through unchanged.
#include "runtime/model_split.h"

#include <fmt/format.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <set>

#include "runtime/onnx_graph.pb.h"

namespace lipsync::runtime::detail {
namespace {

constexpr int32_t kFloat = 1;     // TensorProto.FLOAT
constexpr int32_t kFloat16 = 10;  // TensorProto.FLOAT16
constexpr int32_t kExternal = 1;  // TensorProto.EXTERNAL
constexpr int64_t kMinIrVersion = 4;  // initializers need not be graph inputs (ONNX IR 4)

// The tensor's values as raw little-endian bytes, whichever field holds them.
std::string tensor_bytes(const onnx::Tensor& tensor) {
  if (!tensor.raw_data().empty()) return tensor.raw_data();
  std::string bytes;
  if (tensor.data_type() == kFloat) {
    bytes.resize(tensor.float_data_size() * sizeof(float));
    std::memcpy(bytes.data(), tensor.float_data().data(), bytes.size());
  } else {  // float16: each value's 16 bits in the low half of an int32_data entry
    bytes.resize(tensor.int32_data_size() * 2);
    for (int i = 0; i < tensor.int32_data_size(); ++i) {
      const auto bits = static_cast<uint16_t>(tensor.int32_data(i));
      bytes[2 * i] = static_cast<char>(bits & 0xff);
      bytes[2 * i + 1] = static_cast<char>(bits >> 8);
    }
  }
  return bytes;
}

int64_t element_count(const onnx::Tensor& tensor) {
  int64_t n = 1;
  for (const int64_t d : tensor.dims()) n *= d;
  return n;
}

}  // namespace

Result<SplitModel> split_model(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return make_error(ErrorCode::kNotFound, "model file '{}' cannot be read", file.string());
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  onnx::Model model;
  if (!model.ParseFromString(bytes)) {
    return make_error(ErrorCode::kDataLoss, "model '{}' is not an ONNX model (it does not parse)",
                      file.string());
  }
  SplitModel split;
  if (model.ir_version() < kMinIrVersion) {
    split.why_not = fmt::format("its ONNX IR version {} is older than {}", model.ir_version(),
                                kMinIrVersion);
    return split;
  }
  onnx::Graph& graph = *model.mutable_graph();
  std::set<std::string> conv_weights;  // inputs 1 (kernel) and 2 (bias) of every Conv
  for (const auto& node : graph.node()) {
    if (node.op_type() != "Conv") continue;
    for (int i = 1; i < node.input_size() && i <= 2; ++i) conv_weights.insert(node.input(i));
  }
  google::protobuf::RepeatedPtrField<onnx::Tensor> kept;
  for (auto& tensor : *graph.mutable_initializer()) {
    if (tensor.data_location() == kExternal || tensor.external_data_size() > 0) {
      split.why_not = fmt::format("initializer '{}' is stored in an external file", tensor.name());
      return split;
    }
    const bool typed = tensor.data_type() == kFloat || tensor.data_type() == kFloat16;
    if (!typed || !conv_weights.contains(tensor.name())) {
      *kept.Add() = std::move(tensor);
      continue;
    }
    Weight weight{.name = tensor.name(),
                  .element_type = tensor.data_type(),
                  .dims = {tensor.dims().begin(), tensor.dims().end()},
                  .bytes = tensor_bytes(tensor)};
    const int64_t want = element_count(tensor) * (tensor.data_type() == kFloat ? 4 : 2);
    if (static_cast<int64_t>(weight.bytes.size()) != want) {
      return make_error(ErrorCode::kDataLoss,
                        "model '{}': initializer '{}' holds {} bytes, its shape needs {}",
                        file.string(), tensor.name(), weight.bytes.size(), want);
    }
    onnx::ValueInfo& input = *graph.add_input();
    input.set_name(weight.name);
    onnx::TensorType& type = *input.mutable_type()->mutable_tensor_type();
    type.set_elem_type(weight.element_type);
    for (const int64_t d : weight.dims) type.mutable_shape()->add_dim()->set_dim_value(d);
    split.weights.push_back(std::move(weight));
  }
  if (split.weights.empty()) {
    split.why_not = "it has no Conv weights of type float32 or float16";
    return split;
  }
  graph.mutable_initializer()->Swap(&kept);
  // Deterministic, so that equal graphs give equal bytes.
  bool written = false;
  {
    google::protobuf::io::StringOutputStream stream(&split.graph);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    written = model.SerializeToCodedStream(&coded);
  }  // the streams flush into split.graph here
  if (!written) {
    return make_error(ErrorCode::kInternal, "model '{}': its graph could not be written",
                      file.string());
  }
  return split;
}

}  // namespace lipsync::runtime::detail
