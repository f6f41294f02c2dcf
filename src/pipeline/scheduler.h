// The way from requests to the devices: one DeviceExecutor per device (the CPU, or each CUDA
// device of the registry's GpuPlacement), each owning every run there: the UNet batches of all
// models placed on it and the audio encoder when it runs there (device_executor.h has the
// batching rules). encoder() is the audio encoder every caller shares: each call's mel windows
// are batched with every other pending caller's (sessions, clips, compat requests) into one
// encoder run per executor step.
//
// submit() hands a request's frames to the executor of the model's device, each frame with a
// deadline (the executors run the earliest first):
//   - the request's own RenderRequest::deadlines when set (a live session's frame is due one
//     frame period after the audio it needs arrived; a clip's frame i is due i frame periods
//     after the clip arrived: BatchWindow sets them);
//   - otherwise by arrival order: frame i of a request submitted at t is due at t + i·40 ms.
// A model that is not loaded yet is loaded on a loader thread while its requests wait in a
// bounded per-model queue; a ready model's requests go straight to the executor. Either way at
// most pipeline.max_queue_depth requests per model wait (RESOURCE_EXHAUSTED beyond).
//
//   Scheduler scheduler(registry, config.pipeline, &pool);
//   auto future = scheduler.submit({.model_id = "demo", .source_frames = {0, 1}, .audio = a});
//   ASSIGN_OR_RETURN(RenderResult result, future.get());
#pragma once

#include <cstdint>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "audio/audio_features.h"
#include "core/config.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "pipeline/device_executor.h"
#include "pipeline/lipsync_model.h"
#include "pipeline/render_request.h"
#include "registry/model_registry.h"

namespace lipsync::pipeline {

// The UNet batch sizes warmed and run on CUDA (capped by max_batch): a few shapes, so that a
// batch of 3 runs as 4, not as max_batch. The CPU runs every size (a new shape costs nothing).
inline const std::vector<int> kCudaBatchSizes = {1, 2, 4, 8, 16, 25, 32};

// The executor options of `pipeline` for a process whose models run on CUDA or on the CPU.
ExecutorOptions executor_options(const PipelineSection& pipeline, bool cuda);

using SchedulerStats = ExecutorStats;  // summed over the devices

class Scheduler {
 public:
  // Starts one executor per device of registry.gpu_placement() (none: the CPU). `pool`
  // parallelises preparing and finishing batches (may be null). `encoder` (may be null: no
  // encoder()) runs on the executor of device `encoder_gpu` (-1: the CPU; a device without an
  // executor: the first executor's), on its device thread only. The registry and the encoder
  // must outlive the scheduler.
  Scheduler(registry::ModelRegistry& registry, PipelineSection options, ThreadPool* pool,
            BatchObserver observer = {}, audio::FeatureEncoder* encoder = nullptr,
            int encoder_gpu = -1);
  ~Scheduler();  // refuses new work, runs what is queued, joins the executors and loaders
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Errors (in the future): NOT_FOUND for an unknown model, INVALID_ARGUMENT for a malformed
  // request, RESOURCE_EXHAUSTED when the model's queue is full, CANCELLED, UNAVAILABLE after
  // shutdown, and whatever loading or rendering reports. Never waits for a model load.
  std::future<Result<RenderResult>> submit(RenderRequest request);

  // Sets `flag` and answers the queued work carrying it with CANCELLED at once (its frames
  // never run), on every device.
  void cancel(const std::shared_ptr<CancelFlag>& flag);

  // The shared audio encoder (batched across callers on its executor); null when the scheduler
  // was given none.
  audio::FeatureEncoder* encoder() const { return shared_encoder_.get(); }

  SchedulerStats stats() const;
  // Requests of the model waiting: for its load, or with frames not yet in a batch.
  int queue_depth(const std::string& model_id) const;
  // The executor of a device (-1: the CPU); null when there is none.
  DeviceExecutor* executor(int gpu_id) const;
  const ExecutorOptions& executor_options() const { return executor_options_; }

 private:
  struct Pending {
    RenderRequest request;
    std::promise<Result<RenderResult>> promise;
    TimePoint submitted;
  };
  // The requests of a model that is being loaded, and the thread loading it.
  struct Admission {
    std::deque<Pending> waiting;  // bounded by pipeline.max_queue_depth
    bool loading = false;
    std::thread loader;
  };

  // Hands a request to the executor of its model's device; `admitted`: it waited for the load.
  void forward(Pending pending, const registry::ModelHandle& handle, bool loaded, double load_ms,
               bool admitted);
  void load_and_forward(const std::string& model_id, Pending first);

  registry::ModelRegistry& registry_;
  const PipelineSection options_;
  const ExecutorOptions executor_options_;
  std::map<int, std::unique_ptr<DeviceExecutor>> executors_;
  std::unique_ptr<audio::FeatureEncoder> shared_encoder_;
  mutable std::mutex mutex_;
  bool stopped_ = false;
  std::int64_t rejected_ = 0;  // refused while waiting for a load
  std::map<std::string, std::unique_ptr<Admission>> admissions_;
};

// Deadlines by arrival order: frame k of `count` frames that are frames first..first+count-1 of
// a request (or clip) that arrived at `arrival` is due at arrival + (first + k)·40 ms.
std::vector<TimePoint> arrival_deadlines(TimePoint arrival, std::int64_t first, std::size_t count);

}  // namespace lipsync::pipeline
