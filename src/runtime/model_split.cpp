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
#include <map>
#include <set>
#include <string_view>

#include "runtime/onnx_graph.pb.h"

namespace lipsync::runtime::detail {
namespace {

constexpr int32_t kFloat = 1;         // TensorProto.FLOAT
constexpr int32_t kFloat16 = 10;      // TensorProto.FLOAT16
constexpr int32_t kExternal = 1;      // TensorProto.EXTERNAL
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

int element_size(int32_t type) {
  return type == kFloat ? 4 : 2;
}

// A kernel's values from OIHW to OHWI order.
std::string to_ohwi(const std::string& oihw, const std::vector<int64_t>& dims, int size) {
  const int64_t o = dims[0], in = dims[1], h = dims[2], w = dims[3];
  std::string ohwi(oihw.size(), '\0');
  for (int64_t a = 0; a < o; ++a)
    for (int64_t c = 0; c < in; ++c)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x) {
          const int64_t from = ((a * in + c) * h + y) * w + x;
          const int64_t to = ((a * h + y) * w + x) * in + c;
          std::memcpy(&ohwi[to * size], &oihw[from * size], size);
        }
  return ohwi;
}

bool has_attribute(const onnx::Node& node, std::string_view name) {
  for (const auto& attribute : node.attribute())
    if (attribute.name() == name) return true;
  return false;
}

// SplitLayout::kNhwc: rewrites every Conv whose kernel was split (model_split.h) and turns the
// split kernels and biases into their NHWC form. Adds the zero biases to `kept`. Returns why
// the graph has no such form ("" when it has).
std::string to_nhwc_form(onnx::Graph& graph, std::vector<Weight>& weights,
                         google::protobuf::RepeatedPtrField<onnx::Tensor>& kept) {
  std::map<std::string, Weight*> split;
  for (auto& weight : weights) split[weight.name] = &weight;
  // Each split weight must be only a Conv's kernel or only a Conv's bias.
  enum class Role { kKernel, kBias };
  std::map<std::string, Role> role;
  for (const auto& node : graph.node()) {
    for (int i = 0; i < node.input_size(); ++i) {
      if (!split.contains(node.input(i))) continue;
      const bool conv = node.op_type() == "Conv" && (i == 1 || i == 2);
      const Role as = i == 1 ? Role::kKernel : Role::kBias;
      const auto [it, first] = role.emplace(node.input(i), as);
      if (!conv || it->second != as)
        return fmt::format("weight '{}' is not only a Conv kernel or only a Conv bias",
                           node.input(i));
    }
  }
  std::set<std::string> zeros;
  const auto zero_bias = [&](const std::string& name, const Weight& like, int64_t count) {
    if (!zeros.insert(name).second) return;
    onnx::Tensor& zero = *kept.Add();
    zero.set_name(name);
    zero.set_data_type(like.element_type);
    zero.add_dims(count);
    zero.set_raw_data(std::string(count * element_size(like.element_type), '\0'));
  };
  google::protobuf::RepeatedPtrField<onnx::Node> nodes;
  std::set<std::string> added;  // the biases now added after their Conv
  for (auto& node : *graph.mutable_node()) {
    const auto kernel =
        node.op_type() == "Conv" && node.input_size() > 1 ? split.find(node.input(1)) : split.end();
    if (kernel == split.end()) {
      *nodes.Add() = std::move(node);
      continue;
    }
    const Weight& w = *kernel->second;
    if (w.dims.size() != 4) return fmt::format("Conv kernel '{}' is not 4-D", w.name);
    if (!has_attribute(node, "kernel_shape")) {
      onnx::Attribute& shape = *node.add_attribute();
      shape.set_name("kernel_shape");
      shape.set_type(7);  // INTS
      shape.add_ints(w.dims[2]);
      shape.add_ints(w.dims[3]);
    }
    const bool biased = node.input_size() > 2 && !node.input(2).empty();
    if (biased && !split.contains(node.input(2)))
      return fmt::format("the bias of the Conv with kernel '{}' is not a weight", w.name);
    if (!biased) {  // a constant zero bias, so that the kernel is read as OHWI
      const std::string zero = w.name + "__lipsync_zero_bias";
      zero_bias(zero, w, w.dims[0]);
      if (node.input_size() > 2) {
        node.set_input(2, zero);
      } else {
        node.add_input(zero);
      }
      *nodes.Add() = std::move(node);
      continue;
    }
    const std::string bias = node.input(2);
    added.insert(bias);
    const std::string zero = bias + "__lipsync_zero";
    zero_bias(zero, w, split[bias]->dims.empty() ? 0 : split[bias]->dims[0]);
    const std::string out = node.output(0);
    node.set_input(2, zero);
    node.set_output(0, out + "__lipsync_conv");
    onnx::Node add;
    add.set_name(out + "__lipsync_bias");
    add.set_op_type("Add");
    add.add_input(node.output(0));
    add.add_input(bias);
    add.add_output(out);
    *nodes.Add() = std::move(node);
    *nodes.Add() = std::move(add);
  }
  graph.mutable_node()->Swap(&nodes);
  for (auto& weight : weights) {
    if (role.at(weight.name) == Role::kKernel) {
      weight.bytes = to_ohwi(weight.bytes, weight.dims, element_size(weight.element_type));
      weight.dims = {weight.dims[0], weight.dims[2], weight.dims[3], weight.dims[1]};
    } else if (!added.contains(weight.name)) {  // the bias of a Conv whose kernel is not split
      return fmt::format("Conv bias '{}' belongs to a kernel that is not a weight", weight.name);
    } else if (weight.dims.size() == 1) {
      weight.dims = {1, weight.dims[0], 1, 1};
    } else {
      return fmt::format("Conv bias '{}' is not 1-D", weight.name);
    }
  }
  return {};
}

}  // namespace

Result<SplitModel> split_model(const std::filesystem::path& file, SplitLayout layout) {
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
    split.why_not =
        fmt::format("its ONNX IR version {} is older than {}", model.ir_version(), kMinIrVersion);
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
    const int64_t want = element_count(tensor) * element_size(tensor.data_type());
    if (static_cast<int64_t>(weight.bytes.size()) != want) {
      return make_error(ErrorCode::kDataLoss,
                        "model '{}': initializer '{}' holds {} bytes, its shape needs {}",
                        file.string(), tensor.name(), weight.bytes.size(), want);
    }
    split.weights.push_back(std::move(weight));
  }
  if (split.weights.empty()) {
    split.why_not = "it has no Conv weights of type float32 or float16";
    return split;
  }
  if (layout == SplitLayout::kNhwc) {
    split.why_not = to_nhwc_form(graph, split.weights, kept);
    if (!split.why_not.empty()) {
      split.why_not = "its NHWC form: " + split.why_not;
      split.weights.clear();
      return split;
    }
  }
  for (const auto& weight : split.weights) {
    onnx::ValueInfo& input = *graph.add_input();
    input.set_name(weight.name);
    onnx::TensorType& type = *input.mutable_type()->mutable_tensor_type();
    type.set_elem_type(weight.element_type);
    for (const int64_t d : weight.dims) type.mutable_shape()->add_dim()->set_dim_value(d);
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
