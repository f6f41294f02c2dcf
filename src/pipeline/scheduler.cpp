#include "pipeline/scheduler.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <thread>

#include "audio/audio_features.h"
#include "core/bounded_queue.h"
#include "core/log.h"
#include "pipeline/lipsync_model.h"

namespace lipsync::pipeline {
namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

Status check_request(const RenderRequest& request) {
  const std::size_t frames = request.source_frames.size();
  if (frames == 0)
    return make_error(ErrorCode::kInvalidArgument, "a request needs at least one frame");
  if (request.audio.size() != frames * audio::kFrameTensorSize) {
    return make_error(ErrorCode::kInvalidArgument,
                      "audio holds {} floats, expected {} for {} frames", request.audio.size(),
                      frames * audio::kFrameTensorSize, frames);
  }
  return {};
}

// Wraps source frames when asked, then checks the request against the loaded model (frame
// range, image tensor size).
Status fit_to_model(RenderRequest& request, const avatar::Avatar& avatar) {
  const auto count = static_cast<std::int64_t>(avatar.frame_count());
  if (request.wrap_source_frames && count > 0) {
    for (std::int64_t& frame : request.source_frames) frame = ((frame % count) + count) % count;
  }
  for (std::int64_t frame : request.source_frames) {
    if (frame < 0 || frame >= count) {
      return make_error(ErrorCode::kInvalidArgument,
                        "source frame {} outside [0, {}) of model '{}'", frame, count,
                        request.model_id);
    }
  }
  const std::size_t per_frame = avatar.geometry().input_tensor_elements();
  if (!request.image_tensors.empty() &&
      request.image_tensors.size() != request.source_frames.size() * per_frame) {
    return make_error(ErrorCode::kInvalidArgument,
                      "visual frames hold {} floats, expected {} for {} frames of [6, {}, {}]",
                      request.image_tensors.size(), request.source_frames.size() * per_frame,
                      request.source_frames.size(), avatar.geometry().roi_size_px,
                      avatar.geometry().roi_size_px);
  }
  return {};
}

}  // namespace

struct Scheduler::Pending {
  RenderRequest request;
  std::promise<Result<RenderResult>> promise;
  Clock::time_point submitted = Clock::now();

  int frames() const { return static_cast<int>(request.source_frames.size()); }
};

// The owner of one model's batches: a bounded queue and the one thread that drains it.
class Scheduler::ModelWorker {
 public:
  using PendingPtr = std::shared_ptr<Pending>;

  ModelWorker(Scheduler& owner, std::string model_id)
      : owner_(owner),
        model_id_(std::move(model_id)),
        queue_("scheduler '" + model_id_ + "'",
               static_cast<std::size_t>(std::max(1, owner.options_.max_queue_depth)),
               FullPolicy::kReject),
        thread_([this] { run(); }) {}

  ~ModelWorker() {
    queue_.close();
    thread_.join();
  }

  PushResult push(PendingPtr pending) { return queue_.push(std::move(pending)); }
  int depth() const { return static_cast<int>(queue_.size()); }

 private:
  void run() {
    PendingPtr carry;
    while (true) {
      std::vector<PendingPtr> batch;
      if (carry != nullptr) {
        batch.push_back(std::move(carry));
      } else {
        auto first = queue_.pop();
        if (!first.has_value()) return;  // closed and drained
        batch.push_back(std::move(*first));
      }
      carry = gather(batch);
      run_batch(batch);
    }
  }

  // Adds queued requests while they fit in max_batch frames, waiting at most max_queue_delay_ms
  // from now; returns a popped request that did not fit (it starts the next batch). A request
  // larger than max_batch runs alone, in one batch.
  PendingPtr gather(std::vector<PendingPtr>& batch) {
    int frames = batch.front()->frames();
    const int limit = std::max(owner_.options_.max_batch, frames);
    const auto deadline =
        Clock::now() + std::chrono::milliseconds(owner_.options_.max_queue_delay_ms);
    while (frames < limit) {
      const auto now = Clock::now();
      auto next = now < deadline ? queue_.pop_for(deadline - now) : queue_.try_pop();
      if (!next.has_value()) break;
      if (frames + (*next)->frames() > limit) return std::move(*next);
      frames += (*next)->frames();
      batch.push_back(std::move(*next));
    }
    return nullptr;
  }

  void run_batch(std::vector<PendingPtr>& batch) {
    try {
      run_batch_or_fail(batch);
    } catch (const std::exception& e) {
      fail(batch,
           make_error(ErrorCode::kInternal, "model '{}': batch failed: {}", model_id_, e.what()));
    }
  }

  void fail(std::vector<PendingPtr>& batch, const Status& status) {
    for (auto& pending : batch) pending->promise.set_value(status);
    batch.clear();
  }

  void run_batch_or_fail(std::vector<PendingPtr>& batch) {
    const auto started = Clock::now();
    registry::ModelRegistry& registry = owner_.registry_;
    const auto before = registry.info(model_id_);
    const std::int64_t loads_before = before.ok() ? before->stats.loads : 0;
    auto handle = registry.acquire(model_id_);
    if (!handle.ok()) return fail(batch, handle.status());
    const auto after = registry.info(model_id_);
    const bool loaded = after.ok() && after->stats.loads > loads_before;
    const double load_ms = loaded ? after->stats.load_time_ms : 0.0;
    const auto& model = handle->get<LipSyncModel>();

    std::vector<PendingPtr> valid;
    for (auto& pending : batch) {
      Status status = fit_to_model(pending->request, model.avatar());
      if (status.ok()) {
        valid.push_back(std::move(pending));
      } else {
        pending->promise.set_value(status);
      }
    }
    batch.clear();
    if (valid.empty()) return;

    auto rendered = render(model, valid);
    if (!rendered.ok()) return fail(valid, rendered.status());
    int frames = 0;
    for (const auto& pending : valid) frames += pending->frames();
    owner_.record_batch(frames, static_cast<int>(valid.size()));
    if (owner_.observer_) owner_.observer_(model_id_, frames, depth());
    deliver(valid, *rendered, *handle, started, loaded, load_ms, frames);
  }

  Result<RenderedBatch> render(const LipSyncModel& model, const std::vector<PendingPtr>& batch) {
    std::vector<FrameJob> jobs;
    const bool any_images = std::any_of(batch.begin(), batch.end(), [](const PendingPtr& p) {
      return !p->request.image_tensors.empty();
    });
    for (const auto& pending : batch) {
      const auto& request = pending->request;
      for (std::size_t i = 0; i < request.source_frames.size(); ++i) {
        jobs.push_back(
            {request.source_frames[i],
             std::span(request.audio).subspan(i * audio::kFrameTensorSize, audio::kFrameTensorSize),
             request.jpeg});
      }
    }
    BatchOptions options;
    std::vector<float> images;
    if (any_images) {  // one buffer: client tensors where given, the avatar's elsewhere
      const std::size_t per_frame = model.avatar().geometry().input_tensor_elements();
      images.resize(jobs.size() * per_frame);
      std::size_t k = 0;
      for (const auto& pending : batch) {
        const auto& request = pending->request;
        for (std::size_t i = 0; i < request.source_frames.size(); ++i, ++k) {
          const auto slot = std::span(images).subspan(k * per_frame, per_frame);
          if (request.image_tensors.empty()) {
            RETURN_IF_ERROR(model.avatar().fill_input_tensor(
                static_cast<std::size_t>(jobs[k].source_frame), slot));
          } else {
            const auto given = std::span(request.image_tensors).subspan(i * per_frame, per_frame);
            std::copy(given.begin(), given.end(), slot.begin());
          }
        }
      }
      options.image_tensors = images;
    }
    return render_batch(model, jobs, options, owner_.pool_);
  }

  void deliver(std::vector<PendingPtr>& batch, RenderedBatch& rendered,
               const registry::ModelHandle& handle, Clock::time_point started, bool loaded,
               double load_ms, int frames) {
    std::size_t next = 0;
    for (auto& pending : batch) {
      RenderResult result;
      const auto count = static_cast<std::size_t>(pending->frames());
      for (std::size_t i = 0; i < count; ++i) {
        if (pending->request.jpeg) {
          result.jpegs.push_back(std::move(rendered.jpegs[next + i]));
        } else {
          result.frames.push_back(std::move(rendered.frames[next + i]));
        }
      }
      next += count;
      result.timings = rendered.timings;
      result.batch_frames = frames;
      result.queue_ms = ms_between(pending->submitted, started);
      result.model_loaded = loaded;
      result.model_load_ms = load_ms;
      handle.record_inference(static_cast<std::int64_t>(count), rendered.timings.inference_ms);
      pending->promise.set_value(std::move(result));
    }
  }

  Scheduler& owner_;
  const std::string model_id_;
  BoundedQueue<PendingPtr> queue_;
  std::thread thread_;
};

Scheduler::Scheduler(registry::ModelRegistry& registry, PipelineSection options, ThreadPool* pool,
                     BatchObserver observer)
    : registry_(registry), options_(options), pool_(pool), observer_(std::move(observer)) {}

Scheduler::~Scheduler() {
  std::map<std::string, std::unique_ptr<ModelWorker>> workers;
  {
    std::lock_guard lock(mutex_);
    stopped_ = true;
    workers.swap(workers_);
  }
  workers.clear();  // each finishes its queue and joins
}

Result<Scheduler::ModelWorker*> Scheduler::worker(const std::string& model_id) {
  RETURN_IF_ERROR(registry_.info(model_id).status());
  std::lock_guard lock(mutex_);
  if (stopped_) return make_error(ErrorCode::kUnavailable, "the scheduler is shutting down");
  auto& slot = workers_[model_id];
  if (slot == nullptr) slot = std::make_unique<ModelWorker>(*this, model_id);
  return slot.get();
}

std::future<Result<RenderResult>> Scheduler::submit(RenderRequest request) {
  auto pending = std::make_shared<Pending>();
  auto future = pending->promise.get_future();
  Status status = check_request(request);
  auto owner = status.ok() ? worker(request.model_id) : Result<ModelWorker*>(status);
  if (!owner.ok()) {
    pending->promise.set_value(owner.status());
    return future;
  }
  pending->request = std::move(request);
  const std::string model_id = pending->request.model_id;
  const PushResult pushed = (*owner)->push(pending);
  if (pushed == PushResult::kRejected || pushed == PushResult::kClosed) {
    if (pushed == PushResult::kRejected) {
      std::lock_guard lock(mutex_);
      ++stats_.rejected;
    }
    pending->promise.set_value(make_error(
        pushed == PushResult::kRejected ? ErrorCode::kResourceExhausted : ErrorCode::kUnavailable,
        "model '{}': {}", model_id,
        pushed == PushResult::kRejected
            ? fmt::format("queue full ({} pending requests); retry later", options_.max_queue_depth)
            : std::string("the scheduler is shutting down")));
  }
  return future;
}

void Scheduler::record_batch(int frames, int requests) {
  std::lock_guard lock(mutex_);
  ++stats_.batches;
  stats_.requests += requests;
  stats_.frames += frames;
  stats_.largest_batch_frames = std::max(stats_.largest_batch_frames, frames);
  stats_.largest_batch_requests = std::max(stats_.largest_batch_requests, requests);
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

int Scheduler::queue_depth(const std::string& model_id) const {
  std::lock_guard lock(mutex_);
  const auto it = workers_.find(model_id);
  return it == workers_.end() ? 0 : it->second->depth();
}

}  // namespace lipsync::pipeline
