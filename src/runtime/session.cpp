#include "runtime/session.h"

#include <onnxruntime_cxx_api.h>

#include <algorithm>
#include <mutex>
#include <numeric>
#include <string>

#include "core/log.h"
#include "runtime/ort_env.h"

namespace lipsync::runtime {
namespace {

// What the model declares for one input or output.
struct ModelTensor {
  std::string name;
  std::vector<int64_t> shape;
  ONNXTensorElementDataType type = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
};

std::string shape_text(const std::vector<int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ","));
}

std::string type_text(ONNXTensorElementDataType type) {
  switch (type) {
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT: return "float32";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16: return "float16";
    default: return fmt::format("element type {}", static_cast<int>(type));
  }
}

std::string describe(const std::vector<ModelTensor>& tensors) {
  std::vector<std::string> parts;
  for (const auto& t : tensors) parts.push_back(fmt::format("'{}' {} {}", t.name, shape_text(t.shape), type_text(t.type)));
  return fmt::format("{}", fmt::join(parts, ", "));
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

// Matches expected specs to the model's tensors; fills names and dimensions from the model.
Status resolve(const std::filesystem::path& path, const char* kind, std::vector<TensorSpec>& expected,
               const std::vector<ModelTensor>& actual, std::vector<ModelTensor>& matched) {
  if (expected.size() != actual.size()) {
    return make_error(ErrorCode::kInvalidArgument, "model '{}': expected {} {}(s), the model has {}: {}",
                      path.string(), expected.size(), kind, actual.size(), describe(actual));
  }
  for (auto& spec : expected) {
    auto it = spec.name.empty() && actual.size() == 1
                  ? actual.begin()
                  : std::find_if(actual.begin(), actual.end(), [&](const auto& t) { return t.name == spec.name; });
    if (it == actual.end()) {
      return make_error(ErrorCode::kInvalidArgument, "model '{}': expected {} '{}' not found; the model has {}",
                        path.string(), kind, spec.name, describe(actual));
    }
    bool same = it->shape.size() == spec.shape.size();
    for (std::size_t d = 0; same && d < spec.shape.size(); ++d) {
      same = spec.shape[d] < 0 || it->shape[d] < 0 || spec.shape[d] == it->shape[d];
    }
    if (!same) {
      return make_error(ErrorCode::kInvalidArgument, "model '{}': {} '{}' has shape {}, expected {}",
                        path.string(), kind, it->name, shape_text(it->shape), shape_text(spec.shape));
    }
    if (it->type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT && it->type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16) {
      return make_error(ErrorCode::kInvalidArgument, "model '{}': {} '{}' is {}, expected float32 or float16",
                        path.string(), kind, it->name, type_text(it->type));
    }
    spec.name = it->name;
    for (std::size_t d = 0; d < spec.shape.size(); ++d) spec.shape[d] = std::max(spec.shape[d], it->shape[d]);
    matched.push_back(*it);
  }
  return {};
}

Status check_inputs_are_concrete(const std::filesystem::path& path, const std::vector<TensorSpec>& inputs,
                                 const std::vector<ModelTensor>& matched) {
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].shape.empty() || values_per_frame(inputs[i]) < 0) {
      return make_error(ErrorCode::kInvalidArgument,
                        "model '{}': input '{}' has shape {}; every dimension after the batch must be known",
                        path.string(), inputs[i].name, shape_text(inputs[i].shape));
    }
    if (matched[i].type != matched[0].type) {
      return make_error(ErrorCode::kInvalidArgument, "model '{}': inputs mix {} and {}", path.string(),
                        type_text(matched[0].type), type_text(matched[i].type));
    }
  }
  return {};
}

Result<Ort::SessionOptions> make_ort_options(const SessionOptions& options, std::string* device_text) {
  Ort::SessionOptions ort;
  ort.SetGraphOptimizationLevel(GraphOptimizationLevel::ORT_ENABLE_ALL);
  if (options.intra_op_threads > 0) ort.SetIntraOpNumThreads(options.intra_op_threads);
  if (options.provider == ExecutionProvider::kCuda) {
    ASSIGN_OR_RETURN(auto device, detail::cuda_ep_device(options.cuda_ep_library, options.device_id));
    std::unordered_map<std::string, std::string> ep_options{{"device_id", std::to_string(options.device_id)}};
    ort.AppendExecutionProvider_V2(detail::ort_env(), {device}, ep_options);
    *device_text = detail::describe(device);
  } else {
    *device_text = detail::describe_cpu();
  }
  return ort;
}

// Scratch float16 buffers, reused across runs (one set per concurrent run).
using HalfBuffers = std::vector<std::vector<Ort::Float16_t>>;

}  // namespace

int64_t values_per_frame(const TensorSpec& spec) {
  int64_t n = 1;
  for (std::size_t d = 1; d < spec.shape.size(); ++d) {
    if (spec.shape[d] < 0) return -1;
    n *= spec.shape[d];
  }
  return n;
}

struct Session::Impl {
  std::filesystem::path path;
  std::string device;
  ExecutionProvider provider = ExecutionProvider::kCpu;
  ElementType element_type = ElementType::kFloat32;
  Ort::Session session{nullptr};
  Ort::MemoryInfo cpu_memory = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
  std::vector<ModelTensor> model_inputs;
  std::vector<ModelTensor> model_outputs;
  std::mutex pool_mutex;
  std::vector<HalfBuffers> pool;

  HalfBuffers take_buffers() {
    std::lock_guard lock(pool_mutex);
    if (pool.empty()) return HalfBuffers(inputs.size() + outputs.size());
    auto buffers = std::move(pool.back());
    pool.pop_back();
    return buffers;
  }
  void give_back(HalfBuffers buffers) {
    std::lock_guard lock(pool_mutex);
    pool.push_back(std::move(buffers));
  }

  Status check_run_inputs(std::span<const std::span<const float>> values, int64_t batch) const;
  Ort::Value input_value(std::size_t i, std::span<const float> values, int64_t batch, HalfBuffers& half);
  std::vector<std::vector<float>> run_bound(std::span<const std::span<const float>> values, int64_t batch,
                                            HalfBuffers& half);
};

Status Session::Impl::check_run_inputs(std::span<const std::span<const float>> values, int64_t batch) const {
  if (values.size() != inputs.size()) {
    return make_error(ErrorCode::kInvalidArgument, "model '{}': {} input(s) given, {} expected", path.string(),
                      values.size(), inputs.size());
  }
  if (batch <= 0 || (inputs[0].shape[0] > 0 && inputs[0].shape[0] != batch)) {
    return make_error(ErrorCode::kInvalidArgument, "model '{}': batch {} is not accepted (batch dimension {})",
                      path.string(), batch, inputs[0].shape[0]);
  }
  for (std::size_t i = 0; i < values.size(); ++i) {
    const auto want = static_cast<std::size_t>(batch * values_per_frame(inputs[i]));
    if (values[i].size() != want) {
      return make_error(ErrorCode::kInvalidArgument, "model '{}': input '{}' has {} values, expected {} ({} x {})",
                        path.string(), inputs[i].name, values[i].size(), want, batch, shape_text(inputs[i].shape));
    }
  }
  return {};
}

Ort::Value Session::Impl::input_value(std::size_t i, std::span<const float> values, int64_t batch,
                                      HalfBuffers& half) {
  auto shape = inputs[i].shape;
  shape[0] = batch;
  if (element_type == ElementType::kFloat32) {
    // ORT does not write to inputs; the API takes a non-const pointer.
    return Ort::Value::CreateTensor<float>(cpu_memory, const_cast<float*>(values.data()), values.size(),
                                           shape.data(), shape.size());
  }
  auto& buffer = half[i];
  buffer.resize(values.size());
  float_to_half(values, {reinterpret_cast<uint16_t*>(buffer.data()), buffer.size()});
  return Ort::Value::CreateTensor<Ort::Float16_t>(cpu_memory, buffer.data(), buffer.size(), shape.data(),
                                                  shape.size());
}

std::vector<std::vector<float>> Session::Impl::run_bound(std::span<const std::span<const float>> values,
                                                         int64_t batch, HalfBuffers& half) {
  Ort::IoBinding binding(session);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    binding.BindInput(inputs[i].name.c_str(), input_value(i, values[i], batch, half));
  }
  std::vector<std::vector<float>> results(outputs.size());
  for (std::size_t o = 0; o < outputs.size(); ++o) {
    const int64_t per_frame = values_per_frame(outputs[o]);
    const bool is_half = model_outputs[o].type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16;
    if (per_frame < 0) {  // shape known only after the run
      binding.BindOutput(outputs[o].name.c_str(), cpu_memory);
      continue;
    }
    auto shape = outputs[o].shape;
    shape[0] = batch;
    const auto n = static_cast<std::size_t>(batch * per_frame);
    if (is_half) {
      auto& buffer = half[inputs.size() + o];
      buffer.resize(n);
      binding.BindOutput(outputs[o].name.c_str(), Ort::Value::CreateTensor<Ort::Float16_t>(
                                                      cpu_memory, buffer.data(), n, shape.data(), shape.size()));
    } else {
      results[o].resize(n);
      binding.BindOutput(outputs[o].name.c_str(), Ort::Value::CreateTensor<float>(
                                                      cpu_memory, results[o].data(), n, shape.data(), shape.size()));
    }
  }
  session.Run(Ort::RunOptions{nullptr}, binding);
  auto values_out = binding.GetOutputValues();
  for (std::size_t o = 0; o < outputs.size(); ++o) {
    const auto count = values_out[o].GetTensorTypeAndShapeInfo().GetElementCount();
    if (model_outputs[o].type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16) {
      results[o].resize(count);
      half_to_float({reinterpret_cast<const uint16_t*>(values_out[o].GetTensorData<Ort::Float16_t>()), count},
                    results[o]);
    } else if (results[o].size() != count) {
      const float* data = values_out[o].GetTensorData<float>();
      results[o].assign(data, data + count);
    }
  }
  return results;
}

Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Session::~Session() = default;

Result<std::unique_ptr<Session>> Session::create(const std::filesystem::path& model, const SessionOptions& options,
                                                 std::vector<TensorSpec> inputs, std::vector<TensorSpec> outputs) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(model, ec)) {
    return make_error(ErrorCode::kNotFound, "model file '{}' does not exist", model.string());
  }
  if (inputs.empty() || outputs.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "model '{}': at least one input and one output must be expected",
                      model.string());
  }
  auto impl = std::make_unique<Impl>();
  ASSIGN_OR_RETURN(auto ort_options, make_ort_options(options, &impl->device));
  impl->path = model;
  impl->provider = options.provider;
  try {
    impl->session = Ort::Session(detail::ort_env(), model.c_str(), ort_options);
  } catch (const Ort::Exception& e) {
    return make_error(ErrorCode::kDataLoss, "model '{}' could not be loaded: {}", model.string(), e.what());
  }
  std::vector<ModelTensor> matched_inputs;
  RETURN_IF_ERROR(resolve(model, "input", inputs, read_tensors(impl->session, true), matched_inputs));
  RETURN_IF_ERROR(resolve(model, "output", outputs, read_tensors(impl->session, false), impl->model_outputs));
  RETURN_IF_ERROR(check_inputs_are_concrete(model, inputs, matched_inputs));
  impl->element_type = matched_inputs[0].type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16 ? ElementType::kFloat16
                                                                                       : ElementType::kFloat32;
  impl->inputs = std::move(inputs);
  impl->outputs = std::move(outputs);
  impl->model_inputs = std::move(matched_inputs);
  LOG_INFO("runtime", "loaded {} ({}, {})", model.string(),
           impl->element_type == ElementType::kFloat16 ? "float16" : "float32",
           options.provider == ExecutionProvider::kCuda ? "CUDA" : "CPU");
  return std::unique_ptr<Session>(new Session(std::move(impl)));
}

Result<std::vector<std::vector<float>>> Session::run(std::span<const std::span<const float>> inputs, int64_t batch) {
  RETURN_IF_ERROR(impl_->check_run_inputs(inputs, batch));
  auto half = impl_->take_buffers();
  Result<std::vector<std::vector<float>>> result = Status(ErrorCode::kInternal, "not run");
  try {
    result = impl_->run_bound(inputs, batch, half);
  } catch (const Ort::Exception& e) {
    result = make_error(ErrorCode::kInternal, "model '{}': run of batch {} failed: {}", impl_->path.string(), batch,
                        e.what());
  }
  impl_->give_back(std::move(half));
  return result;
}

const std::vector<TensorSpec>& Session::inputs() const { return impl_->inputs; }
const std::vector<TensorSpec>& Session::outputs() const { return impl_->outputs; }
ElementType Session::element_type() const { return impl_->element_type; }
ExecutionProvider Session::provider() const { return impl_->provider; }
const std::filesystem::path& Session::model_path() const { return impl_->path; }
const std::string& Session::device_description() const { return impl_->device; }

}  // namespace lipsync::runtime
