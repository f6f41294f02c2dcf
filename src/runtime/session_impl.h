// Internal to module `runtime`: the state behind a Session, shared by the files that implement
// it by concern: session.cpp (creation, run), session_batch.cpp (Session::Batch), staging.cpp
// (staging memory and host<->device copies), cuda_graph.cpp (CUDA graphs); the ORT session
// options and EP selection are in session_options.cpp. Not included outside src/runtime (it
// exposes ORT types).
#pragma once

#include <onnxruntime_cxx_api.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "runtime/cuda_graph.h"
#include "runtime/model_tensors.h"
#include "runtime/session.h"
#include "runtime/staging.h"

namespace lipsync::runtime {
namespace detail {

// Where a session's staging memory comes from: pinned host memory (null: the default CPU
// allocator) and, on CUDA, device memory for batches whose inputs are uploaded in advance.
struct Allocators {
  OrtAllocator* host = nullptr;
  OrtAllocator* device = nullptr;
  Ort::ConstEpDevice ep_device{nullptr};  // CUDA: creates the batches' copy streams
};

// ORT's session options for `options`, with the execution provider appended (CUDA: the EP
// device of options.device_id); fills what the device is and where staging memory comes from.
Result<Ort::SessionOptions> make_ort_options(const SessionOptions& options,
                                             std::string* device_text, Allocators* allocators);

}  // namespace detail

struct Session::Impl {
  std::filesystem::path path;
  std::string device;
  ExecutionProvider provider = ExecutionProvider::kCpu;
  ElementType element_type = ElementType::kFloat32;
  Ort::Session session{nullptr};
  // SessionOptions::batch_sessions: the sessions of their own, by batch size.
  std::map<int64_t, Ort::Session> batch_sessions;
  // The session that runs batches of `batch` frames.
  Ort::Session& session_for(int64_t batch) {
    auto it = batch_sessions.find(batch);
    return it == batch_sessions.end() ? session : it->second;
  }
  Ort::MemoryInfo cpu_memory = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  OrtAllocator* staging_allocator = nullptr;  // pinned on CUDA; the default CPU allocator otherwise
  OrtAllocator* device_allocator = nullptr;   // CUDA memory for Session::Batch; null on CPU
  Ort::ConstEpDevice ep_device{nullptr};
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
  std::vector<detail::ModelTensor> model_inputs;
  std::vector<detail::ModelTensor> model_outputs;
  std::mutex pool_mutex;
  std::vector<detail::Staging> pool;
  // Runs of this session on CUDA, one at a time (its CUDA graphs' state). Runs of different
  // sessions are not serialised here: the pipeline's device executor is the one thread that
  // runs on a device.
  std::mutex run_mutex;
  // CUDA graphs, guarded by run_mutex. Graph id = index + 1 (ORT reserves 0).
  bool cuda_graph = false;
  bool graphs_failed = false;              // a graph failed: no more graphs
  std::map<int64_t, int> uncaptured_runs;  // per batch size without a graph
  std::vector<std::unique_ptr<detail::GraphSlot>> graphs;
  bool profiling = false;  // ORT's profiler records until end_profiling()
  int device_id = 0;       // CUDA ordinal
  // SessionOptions::share_architecture: the graph inputs each Session binds its own weights to
  // (empty: the weights are in the ORT sessions), and how many Sessions use this Impl.
  std::vector<std::string> weight_inputs;
  std::atomic<int> sharers{0};
  // Stagings made so far (take_staging found none of the size in the pool): after the warm-up a
  // steady server should make few; the log shows each power of two (staging.cpp).
  std::atomic<std::int64_t> stagings_made{0};

  bool stages(const detail::ModelTensor& tensor) const {
    return provider == ExecutionProvider::kCuda ||
           tensor.type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16;
  }
  bool half(const detail::ModelTensor& tensor) const {
    return tensor.type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16;
  }

  // staging.cpp
  // A tensor for `batch` frames of `spec` in host staging memory, or in device memory.
  Ort::Value allocate(const TensorSpec& spec, const detail::ModelTensor& tensor, int64_t batch,
                      std::vector<detail::StagingMemory>& owner, bool on_device = false) const;
  // `whole`: stage every input and output, as a Session::Batch needs.
  detail::Staging take_staging(int64_t batch, bool whole);
  void give_back(detail::Staging staging);
  // Copies `from` to `to` (host <-> device) and waits for it: on `staging`'s own stream when it
  // has one.
  Status copy(const std::vector<Ort::Value>& from, const std::vector<Ort::Value>& to,
              detail::Staging& staging, const char* what) const;
  // copy() for a caller that holds detail::cuda_activity() already.
  Status copy_unlocked(const std::vector<Ort::Value>& from, const std::vector<Ort::Value>& to,
                       detail::Staging& staging, const char* what) const;

  // session.cpp
  Status check_run_inputs(std::span<const std::span<const float>> values, int64_t batch) const;
  // Copies staged inputs into `staging`; inputs bound from the caller's memory go to `direct`.
  void fill_inputs(std::span<const std::span<const float>> values, int64_t batch,
                   detail::Staging& staging, std::vector<Ort::Value>& direct);
  // The run. Outputs go to their staging, else to targets[o] when given, else to memory ORT
  // allocates; returns them all.
  // `owner`: the Session that runs (its weights, its arena shrinking).
  std::vector<Ort::Value> execute_bound(detail::Staging& staging, std::vector<Ort::Value>& direct,
                                        std::span<const std::span<float>> targets,
                                        const Session& owner);
  Status run_guarded(std::span<const std::span<const float>> values, int64_t batch,
                     std::span<const std::span<float>> targets,
                     std::vector<std::vector<float>>* dynamic, const Session& owner);

  // cuda_graph.cpp
  // The CUDA graph `staging` runs with, made when its batch size qualifies; null: run
  // uncaptured. Called with run_mutex held.
  detail::GraphSlot* graph_slot(const detail::Staging& staging);
  // The run of a staged batch through `slot`'s graph: copied in, run, copied out.
  void execute_graph(detail::Staging& staging, detail::GraphSlot& slot);
};

// A Session's own weights under SessionOptions::share_architecture: one tensor per input in
// Impl::weight_inputs, same order, in device memory on CUDA (else host memory).
struct Session::Weights {
  std::vector<Ort::Value> values;
  int64_t bytes = 0;
};

}  // namespace lipsync::runtime
