#include "runtime/session.h"

#include <onnxruntime_cxx_api.h>

#include <algorithm>
#include <mutex>
#include <numeric>
#include <string>
#include <thread>

#include "core/log.h"
#include "core/thread_pool.h"
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

Result<Ort::SessionOptions> make_ort_options(const SessionOptions& options,
                                             std::string* device_text,
                                             OrtAllocator** staging_allocator) {
  Ort::SessionOptions ort;
  ort.SetGraphOptimizationLevel(GraphOptimizationLevel::ORT_ENABLE_ALL);
  if (options.intra_op_threads > 0) ort.SetIntraOpNumThreads(options.intra_op_threads);
  if (options.provider == ExecutionProvider::kCuda) {
    ASSIGN_OR_RETURN(auto device,
                     detail::cuda_ep_device(options.cuda_ep_library, options.device_id));
    const std::unordered_map<std::string, std::string> ep_options(options.cuda_options.begin(),
                                                                  options.cuda_options.end());
    ort.AppendExecutionProvider_V2(detail::ort_env(), {device}, ep_options);
    *device_text = detail::describe(device);
    *staging_allocator = detail::pinned_allocator(device);
  } else {
    *device_text = detail::describe_cpu();
  }
  return ort;
}

// Tensors one run fills and reads, reused by later runs of the same batch size: pinned host
// memory on CUDA (fast DMA copies), plain host memory for float16 conversion on CPU. A null
// Value means the caller's own memory is bound directly (float32 on CPU).
// The tensors are described as CPU memory even when pinned: ORT then copies them with the
// EP's host<->device transfer (a DMA from pinned memory) instead of treating them as device data.
struct StagingFree {
  OrtAllocator* allocator;
  void operator()(void* p) const { allocator->Free(allocator, p); }
};
using StagingMemory = std::unique_ptr<void, StagingFree>;

struct Staging {
  std::vector<StagingMemory> memory;  // declared first: freed after the tensors over it
  int64_t batch = 0;
  std::vector<Ort::Value> inputs;
  std::vector<Ort::Value> outputs;
};

constexpr std::size_t kParallelCopyValues = std::size_t{1} << 20;

// Splits [0, n) over a few threads for copies and float16 conversion of large batches.
void for_chunks(std::size_t n, const std::function<void(std::size_t, std::size_t)>& fn) {
  static ThreadPool pool(std::clamp<std::size_t>(std::thread::hardware_concurrency(), 1, 8));
  if (n < kParallelCopyValues) return fn(0, n);
  const std::size_t chunks = pool.size() + 1;
  const std::size_t step = (n + chunks - 1) / chunks;
  pool.parallel_for(chunks,
                    [&](std::size_t c) { fn(std::min(n, c * step), std::min(n, (c + 1) * step)); });
}

void copy_in(std::span<const float> from, Ort::Value& to, bool half) {
  for_chunks(from.size(), [&](std::size_t begin, std::size_t end) {
    if (half) {
      auto* dst = reinterpret_cast<uint16_t*>(to.GetTensorMutableData<Ort::Float16_t>());
      float_to_half(from.subspan(begin, end - begin), {dst + begin, end - begin});
    } else {
      std::copy(from.begin() + begin, from.begin() + end, to.GetTensorMutableData<float>() + begin);
    }
  });
}

void copy_out(const Ort::Value& from, std::span<float> to, bool half) {
  for_chunks(to.size(), [&](std::size_t begin, std::size_t end) {
    if (half) {
      const auto* src = reinterpret_cast<const uint16_t*>(from.GetTensorData<Ort::Float16_t>());
      half_to_float({src + begin, end - begin}, to.subspan(begin, end - begin));
    } else {
      const float* src = from.GetTensorData<float>();
      std::copy(src + begin, src + end, to.begin() + begin);
    }
  });
}

}  // namespace

SessionOptions session_options_from(const RuntimeSection& runtime) {
  SessionOptions options;
  options.provider = runtime.execution_provider;
  options.intra_op_threads = runtime.intra_op_threads;
  options.device_id = runtime.device_id;
  options.cuda_ep_library = runtime.cuda_ep_library;
  return options;
}

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
  OrtAllocator* staging_allocator = nullptr;  // pinned on CUDA; the default CPU allocator otherwise
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
  std::vector<ModelTensor> model_inputs;
  std::vector<ModelTensor> model_outputs;
  std::mutex pool_mutex;
  std::vector<Staging> pool;

  bool stages(const ModelTensor& tensor) const {
    return provider == ExecutionProvider::kCuda ||
           tensor.type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16;
  }
  Ort::Value allocate(const TensorSpec& spec, const ModelTensor& tensor, int64_t batch,
                      Staging& staging) const {
    auto shape = spec.shape;
    shape[0] = batch;
    const std::size_t element_bytes = tensor.type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16 ? 2 : 4;
    const std::size_t bytes =
        static_cast<std::size_t>(batch * values_per_frame(spec)) * element_bytes;
    void* memory = staging_allocator->Alloc(staging_allocator, bytes);
    if (memory == nullptr)
      throw Ort::Exception(fmt::format("cannot allocate {} staging bytes", bytes), ORT_FAIL);
    staging.memory.emplace_back(memory, StagingFree{staging_allocator});
    return Ort::Value::CreateTensor(cpu_memory, memory, bytes, shape.data(), shape.size(),
                                    tensor.type);
  }

  Staging take_staging(int64_t batch);
  void give_back(Staging staging) {
    std::lock_guard lock(pool_mutex);
    pool.push_back(std::move(staging));
  }
  Status check_run_inputs(std::span<const std::span<const float>> values, int64_t batch) const;
  void bind_inputs(Ort::IoBinding& binding, std::span<const std::span<const float>> values,
                   int64_t batch, Staging& staging);
  // Output o lands in targets[o]; an empty target (dynamic shape) in (*dynamic)[o].
  void run_bound(std::span<const std::span<const float>> values, int64_t batch, Staging& staging,
                 std::span<const std::span<float>> targets,
                 std::vector<std::vector<float>>* dynamic);
  Status run_guarded(std::span<const std::span<const float>> values, int64_t batch,
                     std::span<const std::span<float>> targets,
                     std::vector<std::vector<float>>* dynamic);
};

Staging Session::Impl::take_staging(int64_t batch) {
  {
    std::lock_guard lock(pool_mutex);
    auto it =
        std::find_if(pool.begin(), pool.end(), [&](const Staging& s) { return s.batch == batch; });
    if (it != pool.end()) {
      Staging staging = std::move(*it);
      pool.erase(it);
      return staging;
    }
    if (pool.size() > 4) pool.erase(pool.begin());  // batch sizes seen long ago
  }
  Staging staging;
  staging.batch = batch;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    staging.inputs.push_back(stages(model_inputs[i])
                                 ? allocate(inputs[i], model_inputs[i], batch, staging)
                                 : Ort::Value(nullptr));
  }
  for (std::size_t o = 0; o < outputs.size(); ++o) {
    const bool staged = stages(model_outputs[o]) && values_per_frame(outputs[o]) >= 0;
    staging.outputs.push_back(staged ? allocate(outputs[o], model_outputs[o], batch, staging)
                                     : Ort::Value(nullptr));
  }
  return staging;
}

Status Session::Impl::check_run_inputs(std::span<const std::span<const float>> values,
                                       int64_t batch) const {
  if (values.size() != inputs.size()) {
    return make_error(ErrorCode::kInvalidArgument, "model '{}': {} input(s) given, {} expected",
                      path.string(), values.size(), inputs.size());
  }
  if (batch <= 0 || (inputs[0].shape[0] > 0 && inputs[0].shape[0] != batch)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "model '{}': batch {} is not accepted (batch dimension {})", path.string(),
                      batch, inputs[0].shape[0]);
  }
  for (std::size_t i = 0; i < values.size(); ++i) {
    const auto want = static_cast<std::size_t>(batch * values_per_frame(inputs[i]));
    if (values[i].size() != want) {
      return make_error(ErrorCode::kInvalidArgument,
                        "model '{}': input '{}' has {} values, expected {} ({} x {})",
                        path.string(), inputs[i].name, values[i].size(), want, batch,
                        shape_text(inputs[i].shape));
    }
  }
  return {};
}

void Session::Impl::bind_inputs(Ort::IoBinding& binding,
                                std::span<const std::span<const float>> values, int64_t batch,
                                Staging& staging) {
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const bool half = model_inputs[i].type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16;
    if (staging.inputs[i] != nullptr) {
      copy_in(values[i], staging.inputs[i], half);
      binding.BindInput(inputs[i].name.c_str(), staging.inputs[i]);
      continue;
    }
    auto shape = inputs[i].shape;
    shape[0] = batch;
    // ORT does not write to inputs; the API takes a non-const pointer.
    binding.BindInput(inputs[i].name.c_str(), Ort::Value::CreateTensor<float>(
                                                  cpu_memory, const_cast<float*>(values[i].data()),
                                                  values[i].size(), shape.data(), shape.size()));
  }
}

void Session::Impl::run_bound(std::span<const std::span<const float>> values, int64_t batch,
                              Staging& staging, std::span<const std::span<float>> targets,
                              std::vector<std::vector<float>>* dynamic) {
  Ort::IoBinding binding(session);
  bind_inputs(binding, values, batch, staging);
  for (std::size_t o = 0; o < outputs.size(); ++o) {
    if (staging.outputs[o] != nullptr) {
      binding.BindOutput(outputs[o].name.c_str(), staging.outputs[o]);
    } else if (!targets[o].empty()) {  // float32 on CPU: ORT writes straight into the target
      auto shape = outputs[o].shape;
      shape[0] = batch;
      binding.BindOutput(
          outputs[o].name.c_str(),
          Ort::Value::CreateTensor<float>(cpu_memory, targets[o].data(), targets[o].size(),
                                          shape.data(), shape.size()));
    } else {  // shape known only after the run
      binding.BindOutput(outputs[o].name.c_str(), cpu_memory);
    }
  }
  session.Run(Ort::RunOptions{nullptr}, binding);
  binding.SynchronizeOutputs();
  auto produced = binding.GetOutputValues();
  for (std::size_t o = 0; o < outputs.size(); ++o) {
    const bool half = model_outputs[o].type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16;
    if (staging.outputs[o] != nullptr) {
      copy_out(produced[o], targets[o], half);
    } else if (targets[o].empty()) {
      auto& result = (*dynamic)[o];
      result.resize(produced[o].GetTensorTypeAndShapeInfo().GetElementCount());
      copy_out(produced[o], result, half);
    }
  }
}

Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Session::~Session() = default;

Result<std::unique_ptr<Session>> Session::create(const std::filesystem::path& model,
                                                 const SessionOptions& options,
                                                 std::vector<TensorSpec> inputs,
                                                 std::vector<TensorSpec> outputs) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(model, ec)) {
    return make_error(ErrorCode::kNotFound, "model file '{}' does not exist", model.string());
  }
  if (inputs.empty() || outputs.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "model '{}': at least one input and one output must be expected",
                      model.string());
  }
  auto impl = std::make_unique<Impl>();
  ASSIGN_OR_RETURN(auto ort_options,
                   make_ort_options(options, &impl->device, &impl->staging_allocator));
  if (impl->staging_allocator == nullptr)
    impl->staging_allocator = Ort::AllocatorWithDefaultOptions();
  impl->path = model;
  impl->provider = options.provider;
  try {
    impl->session = Ort::Session(detail::ort_env(), model.c_str(), ort_options);
  } catch (const Ort::Exception& e) {
    return make_error(ErrorCode::kDataLoss, "model '{}' could not be loaded: {}", model.string(),
                      e.what());
  }
  std::vector<ModelTensor> matched_inputs;
  RETURN_IF_ERROR(
      resolve(model, "input", inputs, read_tensors(impl->session, true), matched_inputs));
  RETURN_IF_ERROR(
      resolve(model, "output", outputs, read_tensors(impl->session, false), impl->model_outputs));
  RETURN_IF_ERROR(check_inputs_are_concrete(model, inputs, matched_inputs));
  impl->element_type = matched_inputs[0].type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16
                           ? ElementType::kFloat16
                           : ElementType::kFloat32;
  impl->inputs = std::move(inputs);
  impl->outputs = std::move(outputs);
  impl->model_inputs = std::move(matched_inputs);
  LOG_INFO("runtime", "loaded {} ({}, {})", model.string(),
           impl->element_type == ElementType::kFloat16 ? "float16" : "float32",
           options.provider == ExecutionProvider::kCuda ? "CUDA" : "CPU");
  return std::unique_ptr<Session>(new Session(std::move(impl)));
}

Status Session::Impl::run_guarded(std::span<const std::span<const float>> values, int64_t batch,
                                  std::span<const std::span<float>> targets,
                                  std::vector<std::vector<float>>* dynamic) {
  // CUDA runs of all sessions are serialised. Seen on the H100 with the server at 8 concurrent
  // clients: an encoder run failed with "CUDA failure 900: operation not permitted when stream
  // is capturing" from ORT's cudaDeviceSynchronize while the UNet session ran on another thread.
  // The GPU executes one model at a time anyway; the cost is lost copy/compute overlap.
  static std::mutex cuda_run_mutex;
  std::unique_lock cuda_lock(cuda_run_mutex, std::defer_lock);
  if (provider == ExecutionProvider::kCuda) cuda_lock.lock();
  try {
    auto staging = take_staging(batch);
    run_bound(values, batch, staging, targets, dynamic);
    give_back(std::move(staging));
  } catch (const Ort::Exception& e) {
    return make_error(ErrorCode::kInternal, "model '{}': run of batch {} failed: {}", path.string(),
                      batch, e.what());
  }
  return {};
}

Result<std::vector<std::vector<float>>> Session::run(std::span<const std::span<const float>> inputs,
                                                     int64_t batch) {
  RETURN_IF_ERROR(impl_->check_run_inputs(inputs, batch));
  std::vector<std::vector<float>> results(impl_->outputs.size());
  std::vector<std::span<float>> targets(results.size());
  for (std::size_t o = 0; o < results.size(); ++o) {
    const int64_t per_frame = values_per_frame(impl_->outputs[o]);
    if (per_frame < 0) continue;
    results[o].resize(static_cast<std::size_t>(batch * per_frame));
    targets[o] = results[o];
  }
  RETURN_IF_ERROR(impl_->run_guarded(inputs, batch, targets, &results));
  return results;
}

Status Session::run_into(std::span<const std::span<const float>> inputs, int64_t batch,
                         std::span<const std::span<float>> outputs) {
  RETURN_IF_ERROR(impl_->check_run_inputs(inputs, batch));
  if (outputs.size() != impl_->outputs.size()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "model '{}': {} output buffer(s) given, {} expected", impl_->path.string(),
                      outputs.size(), impl_->outputs.size());
  }
  for (std::size_t o = 0; o < outputs.size(); ++o) {
    const auto& spec = impl_->outputs[o];
    const int64_t per_frame = values_per_frame(spec);
    if (per_frame < 0 || outputs[o].size() != static_cast<std::size_t>(batch * per_frame)) {
      return make_error(
          ErrorCode::kInvalidArgument, "model '{}': output '{}' {} needs {} x {} values, got {}",
          impl_->path.string(), spec.name, shape_text(spec.shape), batch,
          per_frame < 0 ? std::string("unknown") : std::to_string(per_frame), outputs[o].size());
    }
  }
  return impl_->run_guarded(inputs, batch, outputs, nullptr);
}

const std::vector<TensorSpec>& Session::inputs() const {
  return impl_->inputs;
}
const std::vector<TensorSpec>& Session::outputs() const {
  return impl_->outputs;
}
ElementType Session::element_type() const {
  return impl_->element_type;
}
ExecutionProvider Session::provider() const {
  return impl_->provider;
}
const std::filesystem::path& Session::model_path() const {
  return impl_->path;
}
const std::string& Session::device_description() const {
  return impl_->device;
}

}  // namespace lipsync::runtime
