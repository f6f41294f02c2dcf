#include "pipeline/scheduler.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <thread>
#include <type_traits>

#include "audio/audio_features.h"
#include "core/bounded_queue.h"
#include "core/clock.h"
#include "core/guard.h"
#include "core/log.h"
#include "pipeline/lipsync_model.h"

namespace lipsync::pipeline {
namespace {

using Clock = std::chrono::steady_clock;

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
                      "visual frames hold {} floats, expected {} for {} frames of [{}, {}, {}]",
                      request.image_tensors.size(), request.source_frames.size() * per_frame,
                      request.source_frames.size(), avatar.geometry().input_channels,
                      avatar.geometry().roi_size_px, avatar.geometry().roi_size_px);
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

// The owner of one model's batches: a bounded queue of requests and a pipeline of three
// threads, so that consecutive batches overlap. One gathers requests into a batch and prepares
// its tensors, one runs the UNet, one composites and delivers; one batch waits between steps.
// While the device runs batch n, batch n+1 is being prepared and batch n-1 composited.
class Scheduler::ModelWorker {
 public:
  using PendingPtr = std::shared_ptr<Pending>;

  ModelWorker(Scheduler& owner, std::string model_id)
      : owner_(owner),
        model_id_(std::move(model_id)),
        queue_("scheduler '" + model_id_ + "'",
               static_cast<std::size_t>(std::max(1, owner.options_.max_queue_depth)),
               FullPolicy::kReject),
        to_run_("scheduler '" + model_id_ + "' prepared", 1, FullPolicy::kBlock),
        to_finish_("scheduler '" + model_id_ + "' inferred", 1, FullPolicy::kBlock),
        gather_thread_([this] { gather_loop(); }),
        run_thread_([this] { run_loop(); }),
        finish_thread_([this] { finish_loop(); }) {}

  ~ModelWorker() {
    queue_.close();  // each step drains its input, then closes the next step's
    gather_thread_.join();
    run_thread_.join();
    finish_thread_.join();
  }

  PushResult push(PendingPtr pending) { return queue_.push(std::move(pending)); }
  int depth() const { return static_cast<int>(queue_.size()); }

 private:
  // One batch on its way through the three steps.
  struct InFlight {
    std::vector<PendingPtr> requests;
    std::optional<registry::ModelHandle> handle;  // keeps the model loaded until delivered
    PreparedBatch batch;
    Clock::time_point started;
    bool loaded = false;
    double load_ms = 0;
    int frames = 0;
    imaging::CompositeOptions composite;  // of every request (gather() keeps them equal)

    const LipSyncModel& model() const { return handle->get<LipSyncModel>(); }
  };
  using InFlightPtr = std::unique_ptr<InFlight>;

  void gather_loop() {
    PendingPtr carry;
    while (true) {
      std::vector<PendingPtr> batch;
      if (carry != nullptr) {
        batch.push_back(std::move(carry));
      } else {
        auto first = queue_.pop();
        if (!first.has_value()) break;  // closed and drained
        batch.push_back(std::move(*first));
      }
      carry = gather(batch);
      InFlightPtr flight = guarded(batch, [&] { return admit(batch); });
      if (flight == nullptr) continue;
      if (guarded(flight->requests, [&] { return prepare(*flight); }).ok())
        to_run_.push(std::move(flight));
    }
    to_run_.close();
  }

  void run_loop() {
    while (auto item = to_run_.pop()) {
      InFlightPtr flight = std::move(*item);
      Status status = guarded(flight->requests, [&] {
        Status run = infer_batch(flight->model(), flight->batch);
        if (!run.ok()) fail(flight->requests, run);
        return run;
      });
      if (status.ok()) to_finish_.push(std::move(flight));
    }
    to_finish_.close();
  }

  void finish_loop() {
    while (auto item = to_finish_.pop()) {
      InFlightPtr flight = std::move(*item);
      guarded(flight->requests, [&] {
        finish(*flight);
        return true;
      });
    }
  }

  // Runs `step`; an exception fails the batch's requests (the step's result is then empty).
  template <typename Step>
  auto guarded(std::vector<PendingPtr>& requests, Step step) -> decltype(step()) {
    try {
      return step();
    } catch (...) {
      fail(requests, status_from_exception(std::current_exception(),
                                           fmt::format("model '{}': batch failed", model_id_)));
    }
    if constexpr (std::is_same_v<decltype(step()), Status>) {
      return make_error(ErrorCode::kInternal, "model '{}': batch failed", model_id_);
    } else {
      return {};
    }
  }

  // Adds queued requests while they fit in max_batch frames and paste faces as the first does,
  // waiting at most max_queue_delay_ms from now; returns a popped request that did not fit (it
  // starts the next batch). A request larger than max_batch runs alone, in one batch.
  PendingPtr gather(std::vector<PendingPtr>& batch) {
    int frames = batch.front()->frames();
    const int limit = std::max(owner_.options_.max_batch, frames);
    const auto deadline =
        Clock::now() + std::chrono::milliseconds(owner_.options_.max_queue_delay_ms);
    while (frames < limit) {
      const auto now = Clock::now();
      auto next = now < deadline ? queue_.pop_for(deadline - now) : queue_.try_pop();
      if (!next.has_value()) break;
      if (frames + (*next)->frames() > limit ||
          (*next)->request.composite != batch.front()->request.composite)
        return std::move(*next);
      frames += (*next)->frames();
      batch.push_back(std::move(*next));
    }
    return nullptr;
  }

  // Answers every request of `batch` that has no answer yet with `status`.
  void fail(std::vector<PendingPtr>& batch, const Status& status) {
    for (auto& pending : batch) {
      try {
        pending->promise.set_value(status);
      } catch (const std::future_error&) {  // answered before the step failed
      }
    }
    batch.clear();
  }

  // Acquires the model (loading it if needed) and takes the requests that fit it (the others
  // are answered); null when none is left.
  InFlightPtr admit(std::vector<PendingPtr>& batch) {
    auto flight = std::make_unique<InFlight>();
    flight->started = Clock::now();
    flight->composite = batch.front()->request.composite;
    registry::ModelRegistry& registry = owner_.registry_;
    const auto before = registry.info(model_id_);
    const std::int64_t loads_before = before.ok() ? before->stats.loads : 0;
    auto handle = registry.acquire(model_id_);
    if (!handle.ok()) {
      fail(batch, handle.status());
      return nullptr;
    }
    const auto after = registry.info(model_id_);
    flight->loaded = after.ok() && after->stats.loads > loads_before;
    flight->load_ms = flight->loaded ? after->stats.load_time_ms : 0.0;
    flight->handle.emplace(std::move(handle).value());

    for (auto& pending : batch) {
      Status status = fit_to_model(pending->request, flight->model().avatar());
      if (status.ok()) {
        flight->frames += pending->frames();
        flight->requests.push_back(std::move(pending));
      } else {
        pending->promise.set_value(status);
      }
    }
    batch.clear();
    if (flight->requests.empty()) return nullptr;
    return flight;
  }

  // Writes the UNet's inputs; a failure answers the batch's requests.
  Status prepare(InFlight& flight) {
    std::vector<FrameJob> jobs;
    const std::size_t image_size = flight.model().avatar().geometry().input_tensor_elements();
    for (const auto& pending : flight.requests) {
      const auto& request = pending->request;
      for (std::size_t i = 0; i < request.source_frames.size(); ++i) {
        FrameJob job{.source_frame = request.source_frames[i],
                     .audio = std::span(request.audio).subspan(i * audio::kFrameTensorSize,
                                                                audio::kFrameTensorSize),
                     .image = {},
                     .jpeg = request.jpeg};
        if (!request.image_tensors.empty())
          job.image = std::span(request.image_tensors).subspan(i * image_size, image_size);
        jobs.push_back(job);
      }
    }
    auto prepared = prepare_batch(flight.model(), jobs, {}, owner_.pool_);
    if (!prepared.ok()) {
      fail(flight.requests, prepared.status());
      return prepared.status();
    }
    flight.batch = std::move(prepared).value();
    return {};
  }

  void finish(InFlight& flight) {
    auto rendered = finish_batch(flight.model(), flight.batch, flight.composite, owner_.pool_);
    if (!rendered.ok()) return fail(flight.requests, rendered.status());
    owner_.record_batch(flight.frames, static_cast<int>(flight.requests.size()));
    if (owner_.observer_) owner_.observer_(model_id_, flight.frames, depth());
    deliver(flight, *rendered);
  }

  void deliver(InFlight& flight, RenderedBatch& rendered) {
    std::size_t next = 0;
    for (auto& pending : flight.requests) {
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
      result.batch_frames = flight.frames;
      result.queue_ms = ms_between(pending->submitted, flight.started);
      result.model_loaded = flight.loaded;
      result.model_load_ms = flight.load_ms;
      flight.handle->record_inference(static_cast<std::int64_t>(count),
                                      rendered.timings.inference_ms);
      pending->promise.set_value(std::move(result));
    }
  }

  Scheduler& owner_;
  const std::string model_id_;
  BoundedQueue<PendingPtr> queue_;
  BoundedQueue<InFlightPtr> to_run_;
  BoundedQueue<InFlightPtr> to_finish_;
  std::thread gather_thread_;
  std::thread run_thread_;
  std::thread finish_thread_;
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
