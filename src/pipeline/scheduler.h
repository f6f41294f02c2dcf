// Cross-request batching (style.md rule 3): each model has one owner of its UNet batches, fed by
// a bounded queue. Requests for the same model that arrive within max_queue_delay_ms of each
// other are merged into one batch of up to max_batch frames; a full queue refuses at once
// (RESOURCE_EXHAUSTED). The owner is a pipeline of three threads (prepare, UNet, composite), so
// consecutive batches overlap. Different models run concurrently.
//
//   Scheduler scheduler(registry, config.pipeline, &pool);
//   auto future = scheduler.submit({.model_id = "demo", .source_frames = {0, 1}, .audio = a});
//   ASSIGN_OR_RETURN(RenderResult result, future.get());
#pragma once

#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/image.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "pipeline/batch_renderer.h"
#include "registry/model_registry.h"

namespace lipsync::pipeline {

struct RenderRequest {
  std::string model_id;
  std::vector<std::int64_t> source_frames;  // avatar frame of each output frame
  std::vector<float> audio;                 // [frames, 32, 16, 16]
  std::vector<float> image_tensors;         // empty (from the avatar) or [frames, 6, roi, roi]
  // Take source_frames modulo the avatar's frame count (negative ones too): the compat API's
  // start_frame_idx wraps, and the count is known only once the model is loaded.
  bool wrap_source_frames = false;
  // Set: frames come back as JPEGs with these settings (RenderResult::jpegs), spliced into the
  // stored backgrounds when the avatar's store allows (Avatar::render_jpeg).
  std::optional<media::JpegSettings> jpeg;
  // How faces are pasted; only requests with equal options share a batch.
  imaging::CompositeOptions composite;
};

struct RenderResult {
  std::vector<Image> frames;  // full BGR frames, in request order (empty when jpeg was set)
  BatchTimings timings;       // of the batch that carried the request
  int batch_frames = 0;       // frames in that batch (≥ this request's)
  double queue_ms = 0;        // from submit to the start of the batch
  bool model_loaded = false;  // the batch's acquire loaded the model
  double model_load_ms = 0;
  // The frames as JPEGs, in request order, when the request set `jpeg`.
  std::vector<std::vector<std::uint8_t>> jpegs;
};

struct SchedulerStats {
  std::int64_t batches = 0;
  std::int64_t requests = 0;
  std::int64_t frames = 0;
  std::int64_t rejected = 0;     // refused because a queue was full
  int largest_batch_frames = 0;  // most frames in one UNet run
  int largest_batch_requests = 0;
};

// Called by a model's owner after each batch it delivered: the model, the batch's frames and the
// requests still queued for that model (for metrics).
using BatchObserver = std::function<void(const std::string& model_id, int frames, int queue_depth)>;

class Scheduler {
 public:
  // `pool` composites in parallel (may be null). The registry must outlive the scheduler.
  Scheduler(registry::ModelRegistry& registry, PipelineSection options, ThreadPool* pool,
            BatchObserver observer = {});
  ~Scheduler();  // refuses new work, finishes what is queued, joins the owners' threads
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Errors (in the future): NOT_FOUND for an unknown model, INVALID_ARGUMENT for a malformed
  // request, RESOURCE_EXHAUSTED when the model's queue is full, UNAVAILABLE after shutdown, and
  // whatever loading or rendering reports.
  std::future<Result<RenderResult>> submit(RenderRequest request);

  SchedulerStats stats() const;
  int queue_depth(const std::string& model_id) const;  // pending requests of that model

 private:
  class ModelWorker;
  struct Pending;

  Result<ModelWorker*> worker(const std::string& model_id);
  void record_batch(int frames, int requests);

  registry::ModelRegistry& registry_;
  const PipelineSection options_;
  ThreadPool* pool_;
  BatchObserver observer_;
  mutable std::mutex mutex_;
  bool stopped_ = false;
  std::map<std::string, std::unique_ptr<ModelWorker>> workers_;
  SchedulerStats stats_;
};

}  // namespace lipsync::pipeline
