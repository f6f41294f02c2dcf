// Sessions shared by the models of one architecture (SessionOptions::share_architecture): the
// process's table of shared ORT sessions, and each model's own weights on its device.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstring>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <string>

#include "core/log.h"
#include "runtime/model_split.h"
#include "runtime/ort_env.h"
#include "runtime/ort_error.h"
#include "runtime/session.h"
#include "runtime/session_impl.h"

namespace lipsync::runtime {
namespace {

// Everything besides the graph that shapes a model's ORT sessions: models share sessions only
// where all of it is equal.
std::string sharing_key(const SessionOptions& o, const std::vector<TensorSpec>& inputs,
                        const std::vector<TensorSpec>& outputs) {
  std::string key = fmt::format(
      "provider {} device {} threads {} ep '{}' nhwc {} upload {} optimization {} sizes [{}]",
      static_cast<int>(o.provider), o.device_id, o.intra_op_threads, o.cuda_ep_library.string(),
      o.cuda_nhwc, o.upload_in_advance, static_cast<int>(o.graph_optimization),
      fmt::join(o.batch_sessions, ","));
  for (const auto& [name, value] : o.cuda_options) key += fmt::format(" {}={}", name, value);
  for (const auto& spec : inputs)
    key += fmt::format(" in {} [{}]", spec.name, fmt::join(spec.shape, ","));
  for (const auto& spec : outputs)
    key += fmt::format(" out {} [{}]", spec.name, fmt::join(spec.shape, ","));
  return key + "\n";
}

}  // namespace

Result<std::unique_ptr<Session>> Session::create_shared(const std::filesystem::path& model,
                                                        const SessionOptions& options,
                                                        std::vector<TensorSpec> inputs,
                                                        std::vector<TensorSpec> outputs,
                                                        bool* not_shareable) {
  // CUDA's NHWC convolutions take their kernels as inputs only in NHWC form (model_split.h).
  const auto layout = options.provider == ExecutionProvider::kCuda && options.cuda_nhwc
                          ? detail::SplitLayout::kNhwc
                          : detail::SplitLayout::kNchw;
  ASSIGN_OR_RETURN(detail::SplitModel split, detail::split_model(model, layout));
  if (split.graph.empty()) {
    LOG_INFO("runtime", "model '{}' gets ORT sessions of its own: {}", model.string(),
             split.why_not);
    *not_shareable = true;
    return std::unique_ptr<Session>();
  }
  // The table lives as long as the process (never destroyed: Sessions may end after it).
  static auto* table_mutex = new std::mutex;
  static auto* table = new std::map<std::string, std::weak_ptr<Impl>>;
  const std::string key = sharing_key(options, inputs, outputs) + split.graph;
  std::shared_ptr<Impl> impl;
  bool made = false;
  {
    // Held while the first model of an architecture opens its sessions, so that a second one
    // loading at the same time waits for them instead of opening its own.
    std::lock_guard lock(*table_mutex);
    std::erase_if(*table, [](const auto& entry) { return entry.second.expired(); });
    if (auto it = table->find(key); it != table->end()) impl = it->second.lock();
    if (impl == nullptr) {
      // Loading initialises CUDA and allocates on the device: not while a graph is captured.
      std::shared_lock activity(detail::cuda_activity());
      ASSIGN_OR_RETURN(
          impl, open_sessions(model, options, std::move(inputs), std::move(outputs), &split));
      if (impl->provider == ExecutionProvider::kCuda && impl->device_allocator == nullptr) {
        LOG_WARN("runtime",
                 "model '{}' gets ORT sessions of its own: no device allocator to "
                 "hold its weights",
                 model.string());
        *not_shareable = true;
        return std::unique_ptr<Session>();
      }
      (*table)[key] = impl;
      made = true;
    }
  }
  // This model's weights, in the order of impl->weight_inputs (the split's, equal for equal
  // graphs), copied to the device on CUDA.
  auto weights = std::make_unique<Weights>();
  std::shared_lock activity(detail::cuda_activity());
  RETURN_IF_ERROR(detail::ort_guard(
      ErrorCode::kResourceExhausted,
      [&] { return fmt::format("model '{}': its weights could not be placed", model.string()); },
      [&] {
        std::vector<Ort::Value> host;
        for (auto& weight : split.weights) {
          const auto type = static_cast<ONNXTensorElementDataType>(weight.element_type);
          const auto& dims = weight.dims;
          if (impl->provider == ExecutionProvider::kCuda) {
            host.push_back(Ort::Value::CreateTensor(impl->cpu_memory, weight.bytes.data(),
                                                    weight.bytes.size(), dims.data(), dims.size(),
                                                    type));
            weights->values.push_back(
                Ort::Value::CreateTensor(impl->device_allocator, dims.data(), dims.size(), type));
          } else {
            Ort::AllocatorWithDefaultOptions allocator;
            weights->values.push_back(
                Ort::Value::CreateTensor(allocator, dims.data(), dims.size(), type));
            std::memcpy(weights->values.back().GetTensorMutableRawData(), weight.bytes.data(),
                        weight.bytes.size());
          }
          weights->bytes += static_cast<int64_t>(weight.bytes.size());
        }
        if (!host.empty()) {
          const Ort::Status copied = detail::ort_env().CopyTensors(host, weights->values, nullptr);
          if (!copied.IsOK()) throw Ort::Exception(copied.GetErrorMessage(), ORT_FAIL);
        }
      }));
  if (!made) {
    LOG_INFO("runtime",
             "loaded {}: runs on the ORT sessions of '{}' (same architecture, {} "
             "models), its own weights {:.1f} MB",
             model.string(), impl->path.string(), impl->sharers.load() + 1, weights->bytes / 1e6);
  }
  return std::unique_ptr<Session>(new Session(std::move(impl), model, std::move(weights)));
}

}  // namespace lipsync::runtime
