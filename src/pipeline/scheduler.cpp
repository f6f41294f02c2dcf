#include "pipeline/scheduler.h"

#include <algorithm>
#include <chrono>

#include "core/log.h"

namespace lipsync::pipeline {
namespace {

Status check_request(const RenderRequest& request) {
  const std::size_t frames = request.source_frames.size();
  if (frames == 0)
    return make_error(ErrorCode::kInvalidArgument, "a request needs at least one frame");
  if (!request.deadlines.empty() && request.deadlines.size() != frames) {
    return make_error(ErrorCode::kInvalidArgument, "{} deadlines for {} frames",
                      request.deadlines.size(), frames);
  }
  return {};
}

std::string device_name(int gpu_id) {
  return gpu_id < 0 ? std::string("cpu") : fmt::format("cuda:{}", gpu_id);
}

Status shutting_down(const std::string& model_id) {
  return make_error(ErrorCode::kUnavailable, "model '{}': the scheduler is shutting down",
                    model_id);
}

// The audio encoder as every caller sees it: each call's windows go to the executor that runs
// the encoder, where they are batched with every other caller's pending windows.
class ExecutorEncoder : public audio::FeatureEncoder {
 public:
  explicit ExecutorEncoder(DeviceExecutor& executor) : executor_(executor) {}

  Result<std::vector<float>> encode(std::span<const float> windows, std::size_t count) override {
    return executor_
        .encode(std::vector<float>(windows.begin(), windows.end()), count, ExecutorClock::now())
        .get();
  }

 private:
  DeviceExecutor& executor_;
};

}  // namespace

std::vector<TimePoint> arrival_deadlines(TimePoint arrival, std::int64_t first, std::size_t count) {
  std::vector<TimePoint> deadlines(count);
  for (std::size_t k = 0; k < count; ++k)
    deadlines[k] = arrival + (first + static_cast<std::int64_t>(k)) * kFramePeriod;
  return deadlines;
}

ExecutorOptions executor_options(const PipelineSection& pipeline, bool cuda) {
  ExecutorOptions options;
  options.max_batch = std::max(1, pipeline.max_batch);
  if (cuda) {
    options.batch_sizes =
        pipeline.cuda_batch_sizes.empty() ? kCudaBatchSizes : pipeline.cuda_batch_sizes;
  }
  options.batch_sizes = normalised_batch_sizes(options);
  options.max_queue_delay = std::chrono::milliseconds(std::max(0, pipeline.max_queue_delay_ms));
  options.max_queued_requests = static_cast<std::size_t>(std::max(1, pipeline.max_queue_depth));
  // Room for every model's full queue of full requests on one device, at least 4096 frames.
  options.max_queued_frames = std::max<std::size_t>(
      4096, options.max_queued_requests * static_cast<std::size_t>(options.max_batch) * 4);
  return options;
}

Scheduler::Scheduler(registry::ModelRegistry& registry, PipelineSection options, ThreadPool* pool,
                     BatchObserver observer, audio::FeatureEncoder* encoder, int encoder_gpu)
    : registry_(registry),
      options_(options),
      executor_options_(
          pipeline::executor_options(options_, !registry.gpu_placement().devices.empty())) {
  std::vector<int> devices = registry.gpu_placement().devices;
  if (devices.empty()) devices.push_back(-1);
  if (std::find(devices.begin(), devices.end(), encoder_gpu) == devices.end())
    encoder_gpu = devices.front();
  for (int gpu_id : devices) {
    executors_.emplace(gpu_id, std::make_unique<DeviceExecutor>(
                                   device_name(gpu_id), executor_options_, pool,
                                   gpu_id == encoder_gpu ? encoder : nullptr, observer));
  }
  if (encoder != nullptr)
    shared_encoder_ = std::make_unique<ExecutorEncoder>(*executors_.at(encoder_gpu));
}

Scheduler::~Scheduler() {
  {
    std::lock_guard lock(mutex_);
    stopped_ = true;  // no loader starts from now on; the map does not change
  }
  for (auto& [model_id, admission] : admissions_) {
    if (admission->loader.joinable()) admission->loader.join();  // forwards what waited
  }
  executors_.clear();  // each runs what is queued
}

DeviceExecutor* Scheduler::executor(int gpu_id) const {
  auto it = executors_.find(gpu_id);
  return it == executors_.end() ? nullptr : it->second.get();
}

std::future<Result<RenderResult>> Scheduler::submit(RenderRequest request) {
  Pending pending{.request = std::move(request), .submitted = ExecutorClock::now()};
  auto future = pending.promise.get_future();
  const std::string model_id = pending.request.model_id;
  Status status = check_request(pending.request);
  auto ready = status.ok() ? registry_.try_acquire(model_id)
                           : Result<std::optional<registry::ModelHandle>>(status);
  if (!ready.ok()) {
    pending.promise.set_value(ready.status());
    return future;
  }
  std::unique_lock lock(mutex_);
  if (stopped_) {
    pending.promise.set_value(shutting_down(model_id));
    return future;
  }
  auto& admission = admissions_[model_id];
  if (admission == nullptr) admission = std::make_unique<Admission>();
  if (ready->has_value() && !admission->loading) {
    lock.unlock();
    forward(std::move(pending), **ready, false, 0.0, false);
    return future;
  }
  if (admission->loading) {
    if (admission->waiting.size() >= executor_options_.max_queued_requests) {
      ++rejected_;
      pending.promise.set_value(
          make_error(ErrorCode::kResourceExhausted,
                     "model '{}': queue full ({} pending requests); retry later", model_id,
                     admission->waiting.size()));
    } else {
      admission->waiting.push_back(std::move(pending));
    }
    return future;
  }
  // The first request of a model that is not ready starts its load on a loader thread, which
  // then hands it and every request that waited meanwhile to the model's executor.
  if (admission->loader.joinable()) admission->loader.join();  // the previous load, finished
  admission->loading = true;
  admission->loader = std::thread([this, model_id, first = std::move(pending)]() mutable {
    load_and_forward(model_id, std::move(first));
  });
  return future;
}

void Scheduler::load_and_forward(const std::string& model_id, Pending first) {
  const auto before = registry_.info(model_id);
  const std::int64_t loads_before = before.ok() ? before->stats.loads : 0;
  auto handle = registry_.acquire(model_id);
  const auto after = registry_.info(model_id);
  const bool loaded = after.ok() && after->stats.loads > loads_before;
  const double load_ms = loaded ? after->stats.load_time_ms : 0.0;
  std::deque<Pending> batch;
  batch.push_back(std::move(first));
  while (!batch.empty()) {
    for (Pending& next : batch) {
      if (handle.ok()) {
        forward(std::move(next), *handle, loaded, load_ms, true);
      } else {
        next.promise.set_value(handle.status());
      }
    }
    batch.clear();
    std::lock_guard lock(mutex_);
    Admission& self = *admissions_.at(model_id);
    batch.swap(self.waiting);
    if (batch.empty()) self.loading = false;
  }
}

void Scheduler::forward(Pending pending, const registry::ModelHandle& handle, bool loaded,
                        double load_ms, bool admitted) {
  auto* runner = dynamic_cast<ModelRunner*>(&handle.model());
  DeviceExecutor* device = executor(handle.gpu_id());
  if (runner == nullptr || device == nullptr) {
    pending.promise.set_value(
        runner == nullptr
            ? make_error(ErrorCode::kInternal, "model '{}' cannot run batches", handle.model_id())
            : make_error(ErrorCode::kInternal, "model '{}' runs on {}, which has no executor",
                         handle.model_id(), device_name(handle.gpu_id())));
    return;
  }
  RenderRequest& request = pending.request;
  const std::int64_t count = runner->frame_count();
  if (request.wrap_source_frames && count > 0) {
    for (std::int64_t& frame : request.source_frames) frame = ((frame % count) + count) % count;
  }
  if (request.deadlines.empty())
    request.deadlines = arrival_deadlines(pending.submitted, 0, request.source_frames.size());
  UnetWork work{.model_id = request.model_id,
                // Holding the model's handle keeps it loaded (in use) until the work is answered.
                .runner = std::shared_ptr<ModelRunner>(handle.shared(), runner),
                .request = std::move(request),
                .on_done =
                    [handle, loaded, load_ms](RenderResult& result) {
                      result.model_loaded = loaded;
                      result.model_load_ms = load_ms;
                      handle.record_inference(static_cast<std::int64_t>(std::max(
                                                  result.frames.size(), result.jpegs.size())),
                                              result.timings.inference_ms);
                    },
                .admitted = admitted};
  device->submit(std::move(work), std::move(pending.promise));
}

void Scheduler::cancel(const std::shared_ptr<CancelFlag>& flag) {
  if (flag == nullptr) return;
  flag->set();
  {
    std::lock_guard lock(mutex_);  // requests waiting for their model's load
    for (auto& [model_id, admission] : admissions_) {
      std::erase_if(admission->waiting, [&](Pending& pending) {
        if (pending.request.cancel != flag) return false;
        pending.promise.set_value(make_error(ErrorCode::kCancelled, "cancelled before it ran"));
        return true;
      });
    }
  }
  for (auto& [gpu_id, device] : executors_) device->cancel(flag);
}

SchedulerStats Scheduler::stats() const {
  SchedulerStats total;
  for (const auto& [gpu_id, device] : executors_) {
    const ExecutorStats s = device->stats();
    total.batches += s.batches;
    total.frames += s.frames;
    total.padded_slots += s.padded_slots;
    total.requests += s.requests;
    total.largest_batch_frames = std::max(total.largest_batch_frames, s.largest_batch_frames);
    total.largest_batch_requests = std::max(total.largest_batch_requests, s.largest_batch_requests);
    for (const auto& [size, batches] : s.batches_by_size) total.batches_by_size[size] += batches;
    total.encoder_runs += s.encoder_runs;
    total.encoder_windows += s.encoder_windows;
    total.largest_encoder_run = std::max(total.largest_encoder_run, s.largest_encoder_run);
    total.largest_encoder_run_requests =
        std::max(total.largest_encoder_run_requests, s.largest_encoder_run_requests);
    total.rejected += s.rejected;
    total.cancelled += s.cancelled;
  }
  std::lock_guard lock(mutex_);
  total.rejected += rejected_;
  return total;
}

int Scheduler::queue_depth(const std::string& model_id) const {
  int depth = 0;
  for (const auto& [gpu_id, device] : executors_) depth += device->queued_requests(model_id);
  std::lock_guard lock(mutex_);
  if (auto it = admissions_.find(model_id); it != admissions_.end())
    depth += static_cast<int>(it->second->waiting.size());
  return depth;
}

}  // namespace lipsync::pipeline
