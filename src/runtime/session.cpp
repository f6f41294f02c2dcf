#include "runtime/session.h"

#include <onnxruntime_cxx_api.h>
#include <onnxruntime_run_options_config_keys.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <numeric>
#include <string>
#include <thread>

#include "core/log.h"
#include "core/thread_pool.h"
#include "runtime/model_tensors.h"
#include "runtime/ort_env.h"

namespace lipsync::runtime {
namespace {

using detail::check_inputs_are_concrete;
using detail::ModelTensor;
using detail::read_tensors;
using detail::resolve;
using detail::shape_text;

// Where a session's staging memory comes from: pinned host memory (null: the default CPU
// allocator) and, on CUDA, device memory for batches whose inputs are uploaded in advance.
struct Allocators {
  OrtAllocator* host = nullptr;
  OrtAllocator* device = nullptr;
  Ort::ConstEpDevice ep_device{nullptr};  // CUDA: creates the batches' copy streams
};

Result<Ort::SessionOptions> make_ort_options(const SessionOptions& options,
                                             std::string* device_text, Allocators* allocators) {
  Ort::SessionOptions ort;
  ort.SetGraphOptimizationLevel(GraphOptimizationLevel::ORT_ENABLE_ALL);
  if (options.intra_op_threads > 0) ort.SetIntraOpNumThreads(options.intra_op_threads);
  if (options.provider == ExecutionProvider::kCuda) {
    ASSIGN_OR_RETURN(auto device,
                     detail::cuda_ep_device(options.cuda_ep_library, options.device_id));
    if (options.cuda_options.count("enable_cuda_graph") > 0) {
      return make_error(ErrorCode::kInvalidArgument,
                        "CUDA option enable_cuda_graph: set SessionOptions::cuda_graph instead "
                        "(graphs need inputs at fixed device addresses, which it arranges)");
    }
    if (options.cuda_graph && !options.upload_in_advance) {
      return make_error(ErrorCode::kInvalidArgument,
                        "CUDA graphs need upload_in_advance (the batches' device copies)");
    }
    std::unordered_map<std::string, std::string> ep_options(options.cuda_options.begin(),
                                                            options.cuda_options.end());
    ep_options.try_emplace("prefer_nhwc", options.cuda_nhwc ? "1" : "0");
    if (options.cuda_graph) ep_options.emplace("enable_cuda_graph", "1");  // refused above
    ort.AppendExecutionProvider_V2(detail::ort_env(), {device}, ep_options);
    *device_text = detail::describe(device);
    allocators->host = detail::shared_allocator(device, OrtDeviceMemoryType_HOST_ACCESSIBLE);
    if (options.upload_in_advance) {
      allocators->device = detail::shared_allocator(device, OrtDeviceMemoryType_DEFAULT);
      allocators->ep_device = device;
    }
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
  bool whole = false;  // every input and output staged (a Session::Batch)
  // A Session::Batch on CUDA: device copies of the inputs and outputs, so that the host<->device
  // copies happen outside the run (Session::upload, and right after the run).
  std::vector<Ort::Value> device_inputs;
  std::vector<Ort::Value> device_outputs;
  // The batch's own CUDA stream for those copies, so that they do not wait for (nor delay) the
  // run of another batch on the EP's stream; null where none can be had (copies then use ORT's
  // synchronous path).
  Ort::SyncStream copy_stream{nullptr};
  std::vector<Ort::Value> inputs;
  std::vector<Ort::Value> outputs;
};

// CUDA graphs (SessionOptions::cuda_graph). ORT replays a captured graph with the device
// addresses it was captured with, so each graph has its own inputs and outputs at fixed
// addresses, and a batch is copied into and out of them on the device around the run (46 MB at
// batch 25 in float16: tens of microseconds). ORT keeps graphs per calling thread: a slot
// belongs to the thread that first ran it, other threads run that batch size uncaptured.
struct GraphSlot {
  int64_t batch = 0;
  std::thread::id thread;
  int runs = 0;                       // runs with this graph id so far
  std::vector<StagingMemory> memory;  // declared first: freed after the tensors over it
  std::vector<Ort::Value> inputs;
  std::vector<Ort::Value> outputs;
};
// Uncaptured runs of a batch size before it gets a graph, so that ORT has allocated what runs
// of that shape need (no allocation may happen while capturing).
constexpr int kRunsBeforeGraph = 3;
// Runs of a new graph id during which ORT may capture (it captures after two regular runs;
// one more for margin).
constexpr int kCaptureRuns = 4;
constexpr std::size_t kMaxGraphs = 4;  // batch sizes with a graph, per session

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

// Writes `from` into tensor `to` from value `offset`, converting to float16 when `half`.
void copy_in(std::span<const float> from, Ort::Value& to, bool half, std::size_t offset = 0) {
  for_chunks(from.size(), [&](std::size_t begin, std::size_t end) {
    if (half) {
      auto* dst = reinterpret_cast<uint16_t*>(to.GetTensorMutableData<Ort::Float16_t>()) + offset;
      float_to_half(from.subspan(begin, end - begin), {dst + begin, end - begin});
    } else {
      std::copy(from.begin() + begin, from.begin() + end,
                to.GetTensorMutableData<float>() + offset + begin);
    }
  });
}

// Reads `to.size()` values of tensor `from` from value `offset` as float32.
void copy_out(const Ort::Value& from, std::span<float> to, bool half, std::size_t offset = 0) {
  for_chunks(to.size(), [&](std::size_t begin, std::size_t end) {
    if (half) {
      const auto* src =
          reinterpret_cast<const uint16_t*>(from.GetTensorData<Ort::Float16_t>()) + offset;
      half_to_float({src + begin, end - begin}, to.subspan(begin, end - begin));
    } else {
      const float* src = from.GetTensorData<float>() + offset;
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
  options.cuda_nhwc = runtime.cuda_nhwc;
  options.cuda_graph = runtime.cuda_graph;
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
  OrtAllocator* device_allocator = nullptr;   // CUDA memory for Session::Batch; null on CPU
  Ort::ConstEpDevice ep_device{nullptr};
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
  std::vector<ModelTensor> model_inputs;
  std::vector<ModelTensor> model_outputs;
  std::mutex pool_mutex;
  std::vector<Staging> pool;
  std::mutex* cuda_run_mutex = nullptr;  // CUDA: detail::cuda_run_mutex() of the device
  // CUDA graphs, guarded by cuda_run_mutex. Graph id = index + 1 (ORT reserves 0).
  bool cuda_graph = false;
  bool graphs_failed = false;              // a graph failed: no more graphs
  std::map<int64_t, int> uncaptured_runs;  // per batch size without a graph
  std::vector<std::unique_ptr<GraphSlot>> graphs;

  bool stages(const ModelTensor& tensor) const {
    return provider == ExecutionProvider::kCuda ||
           tensor.type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16;
  }
  // A tensor for `batch` frames of `spec` in host staging memory, or in device memory.
  Ort::Value allocate(const TensorSpec& spec, const ModelTensor& tensor, int64_t batch,
                      std::vector<StagingMemory>& owner, bool on_device = false) const {
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

  // `whole`: stage every input and output, as a Session::Batch needs.
  Staging take_staging(int64_t batch, bool whole);
  void give_back(Staging staging) {
    std::lock_guard lock(pool_mutex);
    pool.push_back(std::move(staging));
  }
  Status check_run_inputs(std::span<const std::span<const float>> values, int64_t batch) const;
  // Copies staged inputs into `staging`; inputs bound from the caller's memory go to `direct`.
  void fill_inputs(std::span<const std::span<const float>> values, int64_t batch,
                   Staging& staging, std::vector<Ort::Value>& direct);
  // The run. Outputs go to their staging, else to targets[o] when given, else to memory ORT
  // allocates; returns them all.
  std::vector<Ort::Value> execute_bound(Staging& staging, std::vector<Ort::Value>& direct,
                                        std::span<const std::span<float>> targets);
  // The CUDA graph `staging` runs with, made when its batch size qualifies; null: run
  // uncaptured. Called with cuda_run_mutex held.
  GraphSlot* graph_slot(const Staging& staging);
  // The run of a staged batch through `slot`'s graph: copied in, run, copied out.
  void execute_graph(Staging& staging, GraphSlot& slot);
  Status run_guarded(std::span<const std::span<const float>> values, int64_t batch,
                     std::span<const std::span<float>> targets,
                     std::vector<std::vector<float>>* dynamic);
  // Copies `from` to `to` (host <-> device) and waits for it: on `staging`'s own stream when it
  // has one.
  Status copy(const std::vector<Ort::Value>& from, const std::vector<Ort::Value>& to,
              Staging& staging, const char* what) const {
    std::shared_lock activity(detail::cuda_activity());
    return copy_unlocked(from, to, staging, what);
  }
  // copy() for a caller that holds detail::cuda_activity() already.
  Status copy_unlocked(const std::vector<Ort::Value>& from, const std::vector<Ort::Value>& to,
                       Staging& staging, const char* what) const {
    const Ort::Status copied = detail::ort_env().CopyTensors(from, to, staging.copy_stream);
    int waited = 0;
    if (copied.IsOK() && staging.copy_stream != nullptr)
      waited = detail::cuda_stream_wait()(staging.copy_stream.GetHandle());
    if (!copied.IsOK() || waited != 0) {
      return make_error(ErrorCode::kInternal, "model '{}': {} batch {} failed: {}",
                        path.string(), what, staging.batch,
                        copied.IsOK() ? fmt::format("CUDA error {}", waited)
                                      : copied.GetErrorMessage());
    }
    return {};
  }
  bool half(const ModelTensor& tensor) const {
    return tensor.type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16;
  }
};

Staging Session::Impl::take_staging(int64_t batch, bool whole) {
  std::shared_lock activity(detail::cuda_activity());  // allocates and frees staging memory
  {
    std::lock_guard lock(pool_mutex);
    auto it = std::find_if(pool.begin(), pool.end(), [&](const Staging& s) {
      return s.batch == batch && s.whole == whole;
    });
    if (it != pool.end()) {
      Staging staging = std::move(*it);
      pool.erase(it);
      return staging;
    }
    if (pool.size() > 6) pool.erase(pool.begin());  // batch sizes seen long ago
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
    const bool staged =
        (whole || stages(model_outputs[o])) && values_per_frame(outputs[o]) >= 0;
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
      } catch (const Ort::Exception& e) {
        LOG_WARN("runtime", "model '{}': no CUDA stream for copies ({})", path.string(), e.what());
      }
    }
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
                                                     std::span<const std::span<float>> targets) {
  std::unique_lock<std::mutex> run_lock;
  if (provider == ExecutionProvider::kCuda) run_lock = std::unique_lock(*cuda_run_mutex);
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
  Ort::IoBinding binding(session);
  const bool on_device = !staging.device_inputs.empty();
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    binding.BindInput(inputs[i].name.c_str(),
                      on_device                      ? staging.device_inputs[i]
                      : staging.inputs[i] != nullptr ? staging.inputs[i]
                                                     : direct[i]);
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
  session.Run(run_options, binding);
  binding.SynchronizeOutputs();
  return binding.GetOutputValues();
}

GraphSlot* Session::Impl::graph_slot(const Staging& staging) {
  if (!cuda_graph || graphs_failed || staging.device_inputs.empty()) return nullptr;
  const auto thread = std::this_thread::get_id();
  for (const auto& slot : graphs) {
    if (slot->batch == staging.batch) return slot->thread == thread ? slot.get() : nullptr;
  }
  if (graphs.size() >= kMaxGraphs || ++uncaptured_runs[staging.batch] <= kRunsBeforeGraph)
    return nullptr;
  auto slot = std::make_unique<GraphSlot>();
  slot->batch = staging.batch;
  slot->thread = thread;
  try {
    for (std::size_t i = 0; i < inputs.size(); ++i)
      slot->inputs.push_back(allocate(inputs[i], model_inputs[i], slot->batch, slot->memory, true));
    for (std::size_t o = 0; o < outputs.size(); ++o)
      slot->outputs.push_back(
          allocate(outputs[o], model_outputs[o], slot->batch, slot->memory, true));
  } catch (const Ort::Exception& e) {
    LOG_WARN("runtime",
             "model '{}': no memory for a CUDA graph for batch {} ({}); runs are "
             "uncaptured from now on",
             path.string(), slot->batch, e.what());
    graphs_failed = true;
    return nullptr;
  }
  uncaptured_runs.erase(staging.batch);
  graphs.push_back(std::move(slot));
  LOG_INFO("runtime", "model '{}': CUDA graph {} for batch {}", path.string(), graphs.size(),
           staging.batch);
  return graphs.back().get();
}

void Session::Impl::execute_graph(Staging& staging, GraphSlot& slot) {
  // While ORT may capture, nothing else in the process touches CUDA; a replay only keeps
  // captures of other devices' sessions away.
  std::unique_lock capturing(detail::cuda_activity(), std::defer_lock);
  std::shared_lock replaying(detail::cuda_activity(), std::defer_lock);
  if (slot.runs < kCaptureRuns) {
    capturing.lock();
  } else {
    replaying.lock();
  }
  auto check = [](const Status& status) {
    if (!status.ok()) throw Ort::Exception(std::string(status.message()), ORT_FAIL);
  };
  check(copy_unlocked(staging.device_inputs, slot.inputs, staging, "copying into the graph"));
  Ort::IoBinding binding(session);
  for (std::size_t i = 0; i < inputs.size(); ++i)
    binding.BindInput(inputs[i].name.c_str(), slot.inputs[i]);
  for (std::size_t o = 0; o < outputs.size(); ++o)
    binding.BindOutput(outputs[o].name.c_str(), slot.outputs[o]);
  const std::size_t index =
      std::find_if(graphs.begin(), graphs.end(), [&](const auto& g) { return g.get() == &slot; }) -
      graphs.begin();
  Ort::RunOptions run_options;
  run_options.AddConfigEntry(kOrtRunOptionsConfigCudaGraphAnnotation,
                             std::to_string(index + 1).c_str());
  session.Run(run_options, binding);
  binding.SynchronizeOutputs();
  ++slot.runs;
  check(copy_unlocked(slot.outputs, staging.device_outputs, staging, "copying out of the graph"));
}

Status Session::Impl::run_guarded(std::span<const std::span<const float>> values, int64_t batch,
                                  std::span<const std::span<float>> targets,
                                  std::vector<std::vector<float>>* dynamic) {
  try {
    auto staging = take_staging(batch, false);
    std::vector<Ort::Value> direct;
    fill_inputs(values, batch, staging, direct);
    auto produced = execute_bound(staging, direct, targets);
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
  } catch (const Ort::Exception& e) {
    return make_error(ErrorCode::kInternal, "model '{}': run of batch {} failed: {}", path.string(),
                      batch, e.what());
  }
  return {};
}

struct Session::Batch::State {
  Session::Impl* impl = nullptr;
  Staging staging;
  std::vector<Ort::Value> no_direct;  // every input is staged
  std::vector<Ort::Value> produced;   // filled by execute() (host memory)
  std::atomic<bool> uploaded = false;  // the device copies of the inputs are current
  std::mutex download_mutex;           // the outputs come to the host on the first read
  bool downloaded = false;
  Status download_status;
  bool executed = false;

  bool on_device() const { return !staging.device_inputs.empty(); }
  // Output o in host memory, after execute().
  const Ort::Value& output(std::size_t o) const {
    return on_device() ? staging.outputs[o] : produced[o];
  }
  ~State() {
    if (impl != nullptr) {
      produced.clear();
      impl->give_back(std::move(staging));
    }
  }
  // Checks that [offset, offset + count) lies within `index` of `specs` for this batch.
  Status check_range(const char* kind, const std::vector<TensorSpec>& specs, std::size_t index,
                     std::size_t offset, std::size_t count) const {
    if (index >= specs.size()) {
      return make_error(ErrorCode::kInvalidArgument, "model '{}': no {} {} (it has {})",
                        impl->path.string(), kind, index, specs.size());
    }
    const auto total = static_cast<std::size_t>(staging.batch * values_per_frame(specs[index]));
    if (offset > total || count > total - offset) {
      return make_error(ErrorCode::kInvalidArgument,
                        "model '{}': values [{}, {}) outside {} '{}' of {} values",
                        impl->path.string(), offset, offset + count, kind, specs[index].name,
                        total);
    }
    return {};
  }
};

Session::Batch::Batch() = default;
Session::Batch::Batch(std::unique_ptr<State> state) : state_(std::move(state)) {}
Session::Batch::Batch(Batch&&) noexcept = default;
Session::Batch& Session::Batch::operator=(Batch&&) noexcept = default;
Session::Batch::~Batch() = default;
int64_t Session::Batch::size() const {
  return state_ == nullptr ? 0 : state_->staging.batch;
}

Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Session::~Session() {
  std::shared_lock activity(detail::cuda_activity());  // frees device and pinned memory
  impl_.reset();
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
  // Loading initialises CUDA and allocates on the device: not while a graph is captured.
  std::shared_lock activity(detail::cuda_activity());
  auto impl = std::make_unique<Impl>();
  Allocators allocators;
  ASSIGN_OR_RETURN(auto ort_options, make_ort_options(options, &impl->device, &allocators));
  impl->staging_allocator = allocators.host;
  impl->device_allocator = allocators.device;
  impl->ep_device = allocators.ep_device;
  if (impl->staging_allocator == nullptr)
    impl->staging_allocator = Ort::AllocatorWithDefaultOptions();
  impl->path = model;
  impl->provider = options.provider;
  impl->cuda_graph = options.provider == ExecutionProvider::kCuda && options.cuda_graph;
  if (options.provider == ExecutionProvider::kCuda)
    impl->cuda_run_mutex = &detail::cuda_run_mutex(options.device_id);
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

Status Session::Batch::write_input(std::size_t input, std::size_t offset,
                                   std::span<const float> values) {
  if (state_ == nullptr) return make_error(ErrorCode::kInvalidArgument, "an empty batch");
  Impl& impl = *state_->impl;
  RETURN_IF_ERROR(state_->check_range("input", impl.inputs, input, offset, values.size()));
  copy_in(values, state_->staging.inputs[input], impl.half(impl.model_inputs[input]), offset);
  state_->uploaded = false;
  return {};
}

Status Session::Batch::read_output(std::size_t output, std::size_t offset,
                                   std::span<float> values) const {
  if (state_ == nullptr || !state_->executed) {
    return make_error(ErrorCode::kInvalidArgument, "outputs read from a batch that did not run");
  }
  Impl& impl = *state_->impl;
  RETURN_IF_ERROR(state_->check_range("output", impl.outputs, output, offset, values.size()));
  if (state_->on_device()) {
    std::lock_guard lock(state_->download_mutex);
    if (!state_->downloaded) {
      state_->download_status = impl.copy(state_->staging.device_outputs, state_->staging.outputs,
                                          state_->staging, "downloading");
      state_->downloaded = true;
    }
    RETURN_IF_ERROR(state_->download_status);
  }
  copy_out(state_->output(output), values, impl.half(impl.model_outputs[output]), offset);
  return {};
}

Result<Session::Batch> Session::new_batch(int64_t batch) {
  if (batch <= 0 || (impl_->inputs[0].shape[0] > 0 && impl_->inputs[0].shape[0] != batch)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "model '{}': batch {} is not accepted (batch dimension {})",
                      impl_->path.string(), batch, impl_->inputs[0].shape[0]);
  }
  for (const auto& spec : impl_->outputs) {
    if (values_per_frame(spec) < 0) {
      return make_error(ErrorCode::kInvalidArgument,
                        "model '{}': output '{}' has shape {}; a staged batch needs every "
                        "dimension after the batch",
                        impl_->path.string(), spec.name, shape_text(spec.shape));
    }
  }
  auto state = std::make_unique<Batch::State>();
  try {
    state->staging = impl_->take_staging(batch, true);
  } catch (const Ort::Exception& e) {
    return make_error(ErrorCode::kResourceExhausted, "model '{}': staging batch {} failed: {}",
                      impl_->path.string(), batch, e.what());
  }
  state->impl = impl_.get();
  return Batch(std::move(state));
}

Result<Session::Batch> Session::stage(std::span<const std::span<const float>> inputs,
                                      int64_t batch) {
  RETURN_IF_ERROR(impl_->check_run_inputs(inputs, batch));
  ASSIGN_OR_RETURN(Batch staged, new_batch(batch));
  for (std::size_t i = 0; i < inputs.size(); ++i)
    RETURN_IF_ERROR(staged.write_input(i, 0, inputs[i]));
  return staged;
}

Status Session::upload(Batch& batch) {
  auto* state = batch.state_.get();
  if (state == nullptr || state->impl != impl_.get()) {
    return make_error(ErrorCode::kInvalidArgument, "model '{}': the batch was not staged here",
                      impl_->path.string());
  }
  if (!state->on_device() || state->uploaded) return {};
  RETURN_IF_ERROR(impl_->copy(state->staging.inputs, state->staging.device_inputs,
                              state->staging, "uploading"));
  state->uploaded = true;
  return {};
}

Status Session::execute(Batch& batch) {
  RETURN_IF_ERROR(upload(batch));
  auto* state = batch.state_.get();
  state->executed = false;
  try {
    state->produced = impl_->execute_bound(state->staging, state->no_direct, {});
  } catch (const Ort::Exception& e) {
    return make_error(ErrorCode::kInternal, "model '{}': run of batch {} failed: {}",
                      impl_->path.string(), state->staging.batch, e.what());
  }
  if (state->on_device()) {  // the first read_output() downloads, on the reading thread
    state->produced.clear();
    std::lock_guard lock(state->download_mutex);
    state->downloaded = false;
  }
  state->executed = true;
  return {};
}

Status Session::read_outputs(const Batch& batch, std::span<const std::span<float>> outputs) const {
  if (outputs.size() != impl_->outputs.size()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "model '{}': {} output buffer(s) given, {} expected", impl_->path.string(),
                      outputs.size(), impl_->outputs.size());
  }
  for (std::size_t o = 0; o < outputs.size(); ++o) {
    const auto want =
        static_cast<std::size_t>(batch.size() * values_per_frame(impl_->outputs[o]));
    if (outputs[o].size() != want) {
      return make_error(ErrorCode::kInvalidArgument,
                        "model '{}': output '{}' has {} values, the buffer {}",
                        impl_->path.string(), impl_->outputs[o].name, want, outputs[o].size());
    }
    RETURN_IF_ERROR(batch.read_output(o, 0, outputs[o]));
  }
  return {};
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
