// A Session: its creation (the model loaded and checked) and its runs from host memory.
#include "runtime/session.h"

#include <fmt/ranges.h>
#include <onnxruntime_run_options_config_keys.h>

#include <algorithm>
#include <shared_mutex>
#include <string>

#include "core/log.h"
#include "runtime/model_split.h"
#include "runtime/model_tensors.h"
#include "runtime/ort_env.h"
#include "runtime/ort_error.h"
#include "runtime/session_impl.h"
#include "runtime/tensor_copy.h"

namespace lipsync::runtime {

using detail::Allocators;
using detail::check_inputs_are_concrete;
using detail::copy_in;
using detail::copy_out;
using detail::GraphSlot;
using detail::make_ort_options;
using detail::ModelTensor;
using detail::read_tensors;
using detail::resolve;
using detail::shape_text;
using detail::Staging;

int64_t values_per_frame(const TensorSpec& spec) {
  int64_t n = 1;
  for (std::size_t d = 1; d < spec.shape.size(); ++d) {
    if (spec.shape[d] < 0) return -1;
    n *= spec.shape[d];
  }
  return n;
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

void Session::Impl::fill_inputs(std::span<const std::span<const float>> values, int64_t batch,
                                Staging& staging, std::vector<Ort::Value>& direct) {
  direct.clear();
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (staging.inputs[i] != nullptr) {
      copy_in(values[i], staging.inputs[i], half(model_inputs[i]));
      direct.emplace_back(nullptr);
      continue;
    }
    auto shape = inputs[i].shape;
    shape[0] = batch;
    // ORT does not write to inputs; the API takes a non-const pointer.
    direct.push_back(Ort::Value::CreateTensor<float>(cpu_memory,
                                                     const_cast<float*>(values[i].data()),
                                                     values[i].size(), shape.data(), shape.size()));
  }
}

std::vector<Ort::Value> Session::Impl::execute_bound(Staging& staging,
                                                     std::vector<Ort::Value>& direct,
                                                     std::span<const std::span<float>> targets,
                                                     const Session& owner) {
  std::unique_lock<std::mutex> run_lock;
  if (provider == ExecutionProvider::kCuda) run_lock = std::unique_lock(run_mutex);
  if (GraphSlot* slot = graph_slot(staging)) {
    try {
      execute_graph(staging, *slot);
      return {};  // the outputs are in staging.device_outputs
    } catch (const Ort::Exception& e) {
      // The batch's own device copies are intact: it runs again below, uncaptured.
      graphs_failed = true;
      LOG_WARN("runtime",
               "model '{}': CUDA graph for batch {} failed ({}); runs are uncaptured "
               "from now on",
               path.string(), staging.batch, e.what());
    }
  }
  // Not while a session on another device captures a graph (captures are process-wide).
  std::shared_lock<std::shared_mutex> activity;
  if (provider == ExecutionProvider::kCuda) activity = std::shared_lock(detail::cuda_activity());
  Ort::Session& run_session = session_for(staging.batch);
  Ort::IoBinding binding(run_session);
  const bool on_device = !staging.device_inputs.empty();
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    binding.BindInput(inputs[i].name.c_str(), on_device ? staging.device_inputs[i]
                                              : staging.inputs[i] != nullptr ? staging.inputs[i]
                                                                             : direct[i]);
  }
  if (owner.weights_ != nullptr) {
    for (std::size_t w = 0; w < weight_inputs.size(); ++w)
      binding.BindInput(weight_inputs[w].c_str(), owner.weights_->values[w]);
  }
  for (std::size_t o = 0; o < outputs.size(); ++o) {
    if (on_device) {
      binding.BindOutput(outputs[o].name.c_str(), staging.device_outputs[o]);
    } else if (staging.outputs[o] != nullptr) {
      binding.BindOutput(outputs[o].name.c_str(), staging.outputs[o]);
    } else if (o < targets.size() && !targets[o].empty()) {  // float32 on CPU: straight in
      auto shape = outputs[o].shape;
      shape[0] = staging.batch;
      binding.BindOutput(
          outputs[o].name.c_str(),
          Ort::Value::CreateTensor<float>(cpu_memory, targets[o].data(), targets[o].size(),
                                          shape.data(), shape.size()));
    } else {  // ORT allocates (a shape known only after the run, or a staged batch on CPU)
      binding.BindOutput(outputs[o].name.c_str(), cpu_memory);
    }
  }
  Ort::RunOptions run_options;
  // With graphs enabled, a run without an id would be captured as graph 0: not this one.
  if (cuda_graph) run_options.AddConfigEntry(kOrtRunOptionsConfigCudaGraphAnnotation, "-1");
  if (provider == ExecutionProvider::kCuda && owner.shrink_arena_) {
    run_options.AddConfigEntry(kOrtRunOptionsConfigEnableMemoryArenaShrinkage,
                               fmt::format("gpu:{}", device_id).c_str());
  }
  run_session.Run(run_options, binding);
  binding.SynchronizeOutputs();
  return binding.GetOutputValues();
}

Status Session::Impl::run_guarded(std::span<const std::span<const float>> values, int64_t batch,
                                  std::span<const std::span<float>> targets,
                                  std::vector<std::vector<float>>* dynamic,
                                  const Session& owner) {
  const auto failed = [&] {
    return fmt::format("model '{}': run of batch {} failed", path.string(), batch);
  };
  return detail::ort_guard(ErrorCode::kInternal, failed, [&] {
    auto staging = take_staging(batch, false);
    std::vector<Ort::Value> direct;
    fill_inputs(values, batch, staging, direct);
    auto produced = execute_bound(staging, direct, targets, owner);
    for (std::size_t o = 0; o < outputs.size(); ++o) {
      if (staging.outputs[o] != nullptr) {
        copy_out(produced[o], targets[o], half(model_outputs[o]));
      } else if (targets[o].empty()) {
        auto& result = (*dynamic)[o];
        result.resize(produced[o].GetTensorTypeAndShapeInfo().GetElementCount());
        copy_out(produced[o], result, half(model_outputs[o]));
      }
    }
    give_back(std::move(staging));
  });
}

Session::Session(std::shared_ptr<Impl> impl, std::filesystem::path path,
                 std::unique_ptr<Weights> weights)
    : impl_(std::move(impl)), path_(std::move(path)), weights_(std::move(weights)) {
  ++impl_->sharers;
}

Session::~Session() {
  std::shared_lock activity(detail::cuda_activity());  // frees device and pinned memory
  --impl_->sharers;
  weights_.reset();
  impl_.reset();
}

Result<std::shared_ptr<Session::Impl>> Session::open_sessions(
    const std::filesystem::path& model, const SessionOptions& options,
    std::vector<TensorSpec> inputs, std::vector<TensorSpec> outputs,
    const detail::SplitModel* split) {
  auto impl = std::make_shared<Impl>();
  Allocators allocators;
  ASSIGN_OR_RETURN(auto ort_options, make_ort_options(options, &impl->device, &allocators));
  impl->staging_allocator = allocators.host;
  impl->device_allocator = allocators.device;
  impl->ep_device = allocators.ep_device;
  if (impl->staging_allocator == nullptr)
    impl->staging_allocator = Ort::AllocatorWithDefaultOptions();
  impl->path = model;
  impl->provider = options.provider;
  // A graph would hold the device addresses of the weights of the run it captured.
  impl->cuda_graph =
      options.provider == ExecutionProvider::kCuda && options.cuda_graph && split == nullptr;
  impl->profiling = !options.profile_prefix.empty();
  impl->device_id = options.device_id;
  // From the file, or from the split graph (its Conv weights are inputs).
  const auto open = [&] {
    return split == nullptr
               ? Ort::Session(detail::ort_env(), model.c_str(), ort_options)
               : Ort::Session(detail::ort_env(), split->graph.data(), split->graph.size(),
                              ort_options);
  };
  RETURN_IF_ERROR(detail::ort_guard(
      ErrorCode::kDataLoss,
      [&] { return fmt::format("model '{}' could not be loaded", model.string()); },
      [&] { impl->session = open(); }));
  std::vector<ModelTensor> model_inputs = read_tensors(impl->session, true);
  if (split != nullptr) {  // the weights are bound by each Session, not by callers
    for (const auto& weight : split->weights) impl->weight_inputs.push_back(weight.name);
    std::erase_if(model_inputs, [&](const ModelTensor& tensor) {
      return std::ranges::find(impl->weight_inputs, tensor.name) != impl->weight_inputs.end();
    });
  }
  std::vector<ModelTensor> matched_inputs;
  RETURN_IF_ERROR(resolve(model, "input", inputs, model_inputs, matched_inputs));
  RETURN_IF_ERROR(
      resolve(model, "output", outputs, read_tensors(impl->session, false), impl->model_outputs));
  RETURN_IF_ERROR(check_inputs_are_concrete(model, inputs, matched_inputs));
  impl->element_type = matched_inputs[0].type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16
                           ? ElementType::kFloat16
                           : ElementType::kFloat32;
  impl->inputs = std::move(inputs);
  impl->outputs = std::move(outputs);
  impl->model_inputs = std::move(matched_inputs);
  if (options.provider == ExecutionProvider::kCuda && impl->inputs[0].shape[0] < 0) {
    for (const int64_t batch : options.batch_sessions) {
      if (batch < 1 || impl->batch_sessions.contains(batch)) continue;
      RETURN_IF_ERROR(detail::ort_guard(
          ErrorCode::kResourceExhausted,
          [&] {
            return fmt::format("model '{}': its session for batch {} could not be made",
                               model.string(), batch);
          },
          [&] { impl->batch_sessions.emplace(batch, open()); }));
    }
  }
  std::vector<int64_t> own_sessions;
  for (const auto& [batch, unused] : impl->batch_sessions) own_sessions.push_back(batch);
  LOG_INFO("runtime", "loaded {} ({}, {}{}{})", model.string(),
           impl->element_type == ElementType::kFloat16 ? "float16" : "float32",
           options.provider == ExecutionProvider::kCuda ? "CUDA" : "CPU",
           own_sessions.empty() ? std::string()
                                : fmt::format(", {} more sessions for batch sizes [{}]",
                                              own_sessions.size(), fmt::join(own_sessions, ", ")),
           split == nullptr ? std::string()
                            : fmt::format(", {} Conv weights as inputs: sessions to share",
                                          split->weights.size()));
  return impl;
}

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
  if (options.share_architecture && options.profile_prefix.empty()) {
    bool not_shareable = false;
    auto shared = create_shared(model, options, inputs, outputs, &not_shareable);
    if (!not_shareable) return shared;
  }
  // Loading initialises CUDA and allocates on the device: not while a graph is captured.
  std::shared_lock activity(detail::cuda_activity());
  ASSIGN_OR_RETURN(auto impl,
                   open_sessions(model, options, std::move(inputs), std::move(outputs), nullptr));
  return std::unique_ptr<Session>(new Session(std::move(impl), model, nullptr));
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
  RETURN_IF_ERROR(impl_->run_guarded(inputs, batch, targets, &results, *this));
  return results;
}

Status Session::run_into(std::span<const std::span<const float>> inputs, int64_t batch,
                         std::span<const std::span<float>> outputs) {
  RETURN_IF_ERROR(impl_->check_run_inputs(inputs, batch));
  if (outputs.size() != impl_->outputs.size()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "model '{}': {} output buffer(s) given, {} expected", path_.string(),
                      outputs.size(), impl_->outputs.size());
  }
  for (std::size_t o = 0; o < outputs.size(); ++o) {
    const auto& spec = impl_->outputs[o];
    const int64_t per_frame = values_per_frame(spec);
    if (per_frame < 0 || outputs[o].size() != static_cast<std::size_t>(batch * per_frame)) {
      return make_error(
          ErrorCode::kInvalidArgument, "model '{}': output '{}' {} needs {} x {} values, got {}",
          path_.string(), spec.name, shape_text(spec.shape), batch,
          per_frame < 0 ? std::string("unknown") : std::to_string(per_frame), outputs[o].size());
    }
  }
  return impl_->run_guarded(inputs, batch, outputs, nullptr, *this);
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
  return path_;
}
int64_t Session::working_memory_bytes() const {
  if (impl_->provider != ExecutionProvider::kCpu) return 0;
  try {
    // The session's allocator of CPU memory is its arena; its chunks, in use or not, are what it
    // took from the system.
    const Ort::Allocator arena(impl_->session, impl_->cpu_memory);
    const Ort::KeyValuePairs stats = arena.GetStats();
    const char* total = stats.GetValue("TotalAllocated");
    // Shared by several models (share_architecture): each counts its share.
    return total != nullptr ? std::stoll(total) / sharers() : 0;
  } catch (const std::exception& e) {
    LOG_WARN("runtime", "model '{}': the size of its arena is unknown: {}", path_.string(),
             e.what());
    return 0;
  }
}

int64_t Session::stagings_made() const {
  return impl_->stagings_made.load();
}

const std::string& Session::device_description() const {
  return impl_->device;
}

void Session::set_arena_shrinking(bool on) {
  shrink_arena_ = on;
}

int Session::sharers() const {
  return std::max(1, impl_->sharers.load());
}

int64_t Session::own_weight_bytes() const {
  return weights_ == nullptr ? 0 : weights_->bytes;
}

Result<std::filesystem::path> Session::end_profiling() {
  if (!impl_->profiling) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "model '{}': profiling is off (set SessionOptions::profile_prefix)",
                      path_.string());
  }
  std::string file;
  RETURN_IF_ERROR(detail::ort_guard(
      ErrorCode::kInternal,
      [&] {
        return fmt::format("model '{}': the profile could not be written", path_.string());
      },
      [&] {
        Ort::AllocatorWithDefaultOptions allocator;
        file = impl_->session.EndProfilingAllocated(allocator).get();
      }));
  impl_->profiling = false;
  std::error_code ec;
  if (file.empty() || !std::filesystem::is_regular_file(file, ec)) {
    return make_error(ErrorCode::kInternal, "model '{}': ORT wrote no profile (got '{}')",
                      path_.string(), file);
  }
  return std::filesystem::path(file);
}

}  // namespace lipsync::runtime
