// Staging memory of a session's runs and batches, and the host<->device copies of a staged batch.
#include <fmt/format.h>

#include <algorithm>
#include <shared_mutex>

#include "core/log.h"
#include "runtime/ort_env.h"
#include "runtime/session_impl.h"

namespace lipsync::runtime {

using detail::ModelTensor;
using detail::Staging;
using detail::StagingFree;
using detail::StagingMemory;

Ort::Value Session::Impl::allocate(const TensorSpec& spec, const ModelTensor& tensor, int64_t batch,
                                   std::vector<StagingMemory>& owner, bool on_device) const {
  auto shape = spec.shape;
  shape[0] = batch;
  const std::size_t element_bytes = tensor.type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16 ? 2 : 4;
  const std::size_t bytes =
      static_cast<std::size_t>(batch * values_per_frame(spec)) * element_bytes;
  OrtAllocator* allocator = on_device ? device_allocator : staging_allocator;
  void* memory = allocator->Alloc(allocator, bytes);
  if (memory == nullptr)
    throw Ort::Exception(fmt::format("cannot allocate {} staging bytes", bytes), ORT_FAIL);
  owner.emplace_back(memory, StagingFree{allocator});
  const OrtMemoryInfo* info =
      on_device ? allocator->Info(allocator) : static_cast<const OrtMemoryInfo*>(cpu_memory);
  return Ort::Value::CreateTensor(info, memory, bytes, shape.data(), shape.size(), tensor.type);
}

Staging Session::Impl::take_staging(int64_t batch, bool whole) {
  std::shared_lock activity(detail::cuda_activity());  // allocates and frees staging memory
  {
    std::lock_guard lock(pool_mutex);
    auto it = std::find_if(pool.begin(), pool.end(),
                           [&](const Staging& s) { return s.batch == batch && s.whole == whole; });
    if (it != pool.end()) {
      Staging staging = std::move(*it);
      pool.erase(it);
      return staging;
    }
    if (pool.size() > detail::kMaxPooledStagings) pool.erase(pool.begin());
  }
  // Making a staging allocates pinned and device memory (and a stream) on CUDA, and dropping one
  // from the full pool frees them: both are slow, so how often it happens is logged (as the
  // count reaches each power of two) to tell a pool that keeps up from one that churns.
  const std::int64_t made = ++stagings_made;
  if ((made & (made - 1)) == 0) {
    LOG_INFO("runtime", "model '{}': {} stagings made so far (the latest for batch {}{})",
             path.string(), made, batch, whole ? ", staged batch" : "");
  }
  Staging staging;
  staging.batch = batch;
  staging.whole = whole;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    staging.inputs.push_back(whole || stages(model_inputs[i])
                                 ? allocate(inputs[i], model_inputs[i], batch, staging.memory)
                                 : Ort::Value(nullptr));
  }
  for (std::size_t o = 0; o < outputs.size(); ++o) {
    const bool staged = (whole || stages(model_outputs[o])) && values_per_frame(outputs[o]) >= 0;
    staging.outputs.push_back(staged ? allocate(outputs[o], model_outputs[o], batch, staging.memory)
                                     : Ort::Value(nullptr));
  }
  if (whole && device_allocator != nullptr) {
    for (std::size_t i = 0; i < inputs.size(); ++i)
      staging.device_inputs.push_back(
          allocate(inputs[i], model_inputs[i], batch, staging.memory, true));
    for (std::size_t o = 0; o < outputs.size(); ++o)
      staging.device_outputs.push_back(
          allocate(outputs[o], model_outputs[o], batch, staging.memory, true));
    if (detail::cuda_stream_wait() != nullptr) {
      try {
        staging.copy_stream = ep_device.CreateSyncStream();
      } catch (const Ort::Exception& e) {  // not an error: copies take ORT's synchronous path
        LOG_WARN("runtime", "model '{}': no CUDA stream for copies ({})", path.string(), e.what());
      }
    }
  }
  return staging;
}

void Session::Impl::give_back(Staging staging) {
  std::lock_guard lock(pool_mutex);
  pool.push_back(std::move(staging));
}

Status Session::Impl::copy(const std::vector<Ort::Value>& from, const std::vector<Ort::Value>& to,
                           Staging& staging, const char* what) const {
  std::shared_lock activity(detail::cuda_activity());
  return copy_unlocked(from, to, staging, what);
}

Status Session::Impl::copy_unlocked(const std::vector<Ort::Value>& from,
                                    const std::vector<Ort::Value>& to, Staging& staging,
                                    const char* what) const {
  const Ort::Status copied = detail::ort_env().CopyTensors(from, to, staging.copy_stream);
  int waited = 0;
  if (copied.IsOK() && staging.copy_stream != nullptr)
    waited = detail::cuda_stream_wait()(staging.copy_stream.GetHandle());
  if (!copied.IsOK() || waited != 0) {
    return make_error(
        ErrorCode::kInternal, "model '{}': {} batch {} failed: {}", path.string(), what,
        staging.batch,
        copied.IsOK() ? fmt::format("CUDA error {}", waited) : copied.GetErrorMessage());
  }
  return {};
}

}  // namespace lipsync::runtime
