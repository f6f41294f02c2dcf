#include "pipeline/device_executor.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <exception>
#include <tuple>

#include "core/log.h"
#include "pipeline/device_executor_internal.h"

namespace lipsync::pipeline {

using detail::cancelled_status;
using detail::guarded;
using detail::ms_between;

namespace {

Status check_work(const UnetWork& work) {
  const RenderRequest& request = work.request;
  const std::size_t frames = request.source_frames.size();
  if (work.runner == nullptr)
    return make_error(ErrorCode::kInternal, "model '{}': no runner", work.model_id);
  if (frames == 0)
    return make_error(ErrorCode::kInvalidArgument, "a request needs at least one frame");
  if (request.deadlines.size() != frames) {
    return make_error(ErrorCode::kInvalidArgument, "{} deadlines for {} frames",
                      request.deadlines.size(), frames);
  }
  if (request.audio.size() != frames * audio::kFrameTensorSize) {
    return make_error(ErrorCode::kInvalidArgument,
                      "audio holds {} floats, expected {} for {} frames", request.audio.size(),
                      frames * audio::kFrameTensorSize, frames);
  }
  const std::int64_t count = work.runner->frame_count();
  for (std::int64_t frame : request.source_frames) {
    if (frame < 0 || frame >= count) {
      return make_error(ErrorCode::kInvalidArgument,
                        "source frame {} outside [0, {}) of model '{}'", frame, count,
                        work.model_id);
    }
  }
  const std::size_t per_frame = work.runner->image_tensor_elements();
  if (!request.image_tensors.empty() && request.image_tensors.size() != frames * per_frame) {
    return make_error(ErrorCode::kInvalidArgument,
                      "visual frames hold {} floats, expected {} for {} frames of {} floats",
                      request.image_tensors.size(), frames * per_frame, frames, per_frame);
  }
  return {};
}

}  // namespace

std::vector<int> normalised_batch_sizes(const ExecutorOptions& options) {
  const int max_batch = std::max(1, options.max_batch);
  std::vector<int> sizes;
  if (options.batch_sizes.empty()) {
    for (int n = 1; n <= max_batch; ++n) sizes.push_back(n);
    return sizes;
  }
  for (int n : options.batch_sizes) {
    if (n >= 1 && n < max_batch) sizes.push_back(n);
  }
  sizes.push_back(max_batch);
  std::sort(sizes.begin(), sizes.end());
  sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
  return sizes;
}

namespace {
ExecutorOptions normalised(ExecutorOptions options) {
  options.max_batch = std::max(1, options.max_batch);
  options.batch_sizes = normalised_batch_sizes(options);
  options.prepare_ahead = std::max(1, options.prepare_ahead);
  options.encoder_max_batch = std::max<std::size_t>(1, options.encoder_max_batch);
  return options;
}
}  // namespace

DeviceExecutor::DeviceExecutor(std::string device, ExecutorOptions options, ThreadPool* pool,
                               audio::FeatureEncoder* encoder, BatchObserver observer)
    : device_(std::move(device)),
      options_(normalised(std::move(options))),
      pool_(pool),
      encoder_(encoder),
      observer_(std::move(observer)),
      to_finish_("executor '" + device_ + "' ran", 2, FullPolicy::kBlock),
      device_thread_([this] { device_loop(); }),
      prepare_thread_([this] { prepare_loop(); }),
      finish_thread_([this] { finish_loop(); }) {
  LOG_INFO("pipeline", "executor '{}': batch sizes [{}], max queue delay {} ms", device_,
           fmt::join(options_.batch_sizes, ", "), options_.max_queue_delay.count());
}

DeviceExecutor::~DeviceExecutor() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  device_wake_.notify_all();
  prepare_wake_.notify_all();
  device_thread_.join();  // runs what is queued, then closes the later steps
  prepare_thread_.join();
  finish_thread_.join();
}

int DeviceExecutor::batch_size_for(int frames) const {
  for (int size : options_.batch_sizes) {
    if (size >= frames) return size;
  }
  return frames;
}

std::future<Result<RenderResult>> DeviceExecutor::submit(UnetWork unet) {
  std::promise<Result<RenderResult>> answer;
  auto future = answer.get_future();
  submit(std::move(unet), std::move(answer));
  return future;
}

void DeviceExecutor::submit(UnetWork unet, std::promise<Result<RenderResult>> answer) {
  auto work = std::make_shared<Work>();
  work->promise = std::move(answer);
  if (Status status = check_work(unet); !status.ok()) {
    work->promise.set_value(status);
    return;
  }
  work->work = std::move(unet);
  const RenderRequest& request = work->work.request;
  const std::size_t frames = request.source_frames.size();
  const std::size_t image_size = work->work.runner->image_tensor_elements();
  for (std::size_t i = 0; i < frames; ++i) {
    FrameJob job{
        .source_frame = request.source_frames[i],
        .audio =
            std::span(request.audio).subspan(i * audio::kFrameTensorSize, audio::kFrameTensorSize),
        .image = {},
        .jpeg = request.jpeg};
    if (!request.image_tensors.empty())
      job.image = std::span(request.image_tensors).subspan(i * image_size, image_size);
    work->jobs.push_back(job);
  }
  if (request.jpeg) {
    work->result.jpegs.resize(frames);
  } else {
    work->result.frames.resize(frames);
  }
  std::lock_guard lock(mutex_);
  work->submitted = ExecutorClock::now();
  if (stopping_) {
    work->promise.set_value(
        make_error(ErrorCode::kUnavailable, "executor '{}' is shutting down", device_));
    return;
  }
  if (work->work.request.cancel != nullptr && work->work.request.cancel->is_set()) {
    work->promise.set_value(cancelled_status());
    return;
  }
  if (queued_frames_ > 0 && queued_frames_ + frames > options_.max_queued_frames) {
    ++stats_.rejected;
    work->promise.set_value(
        make_error(ErrorCode::kResourceExhausted,
                   "model '{}': device '{}' has {} frames queued (limit {}); retry later",
                   work->work.model_id, device_, queued_frames_, options_.max_queued_frames));
    return;
  }
  auto& queue = queues_[queue_key_of(work->work)];
  if (queue == nullptr) {
    queue = std::make_unique<ModelQueue>();
    queue->runner = work->work.runner;
    queue->model_id = work->work.model_id;
    queue->composite = work->work.request.composite;
  }
  if (queue->works >= options_.max_queued_requests && !work->work.admitted) {
    ++stats_.rejected;
    work->promise.set_value(make_error(ErrorCode::kResourceExhausted,
                                       "model '{}': queue full ({} pending requests); retry later",
                                       work->work.model_id, queue->works));
    return;
  }
  ++queue->works;
  for (std::size_t i = 0; i < frames; ++i) {
    queue->frames.insert(
        {work->work.request.deadlines[i], next_sequence_++, work->submitted, work, i});
    queue->enqueued.insert(work->submitted);
  }
  work->queued = work->unfinished = frames;
  queued_frames_ += frames;
  prepare_wake_.notify_one();
}

std::future<Status> DeviceExecutor::run_on_device(std::function<Status()> task) {
  std::packaged_task<Status()> packaged(
      [this, task = std::move(task)] { return guarded("device task on " + device_, task); });
  auto future = packaged.get_future();
  std::lock_guard lock(mutex_);
  device_tasks_.push_back(std::move(packaged));
  device_wake_.notify_one();
  return future;
}

void DeviceExecutor::cancel(const std::shared_ptr<CancelFlag>& flag) {
  if (flag == nullptr) return;
  flag->set();
  std::lock_guard lock(mutex_);
  std::vector<std::shared_ptr<Work>> works;
  auto collect = [&](const QueuedFrame& frame) {
    if (frame.work->work.request.cancel == flag && !frame.work->answered)
      works.push_back(frame.work);
  };
  for (auto& [key, queue] : queues_) {
    for (const QueuedFrame& frame : queue->frames) collect(frame);
  }
  for (const auto& batch : formed_) {  // formed, not yet running: their outputs are dropped
    for (const QueuedFrame& frame : batch->frames) collect(frame);
  }
  for (auto& work : works) {
    stats_.cancelled += static_cast<std::int64_t>(work->queued);
    answer_locked(*work, cancelled_status());
  }
  std::vector<std::shared_ptr<EncodeWork>> encodes;
  for (const auto& work : encode_queue_) {
    if (work->cancel == flag) encodes.push_back(work);
  }
  for (auto& work : encodes) {
    stats_.cancelled += static_cast<std::int64_t>(work->count - work->taken);
    answer_encode_locked(*work, cancelled_status());
  }
  std::erase_if(queues_, [](const auto& entry) { return entry.second->frames.empty(); });
  device_wake_.notify_one();  // a stopping executor may have become idle
}

ExecutorStats DeviceExecutor::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

int DeviceExecutor::queued_frames(const std::string& model_id) const {
  std::lock_guard lock(mutex_);
  std::size_t frames = 0;
  for (const auto& [key, queue] : queues_) {
    if (queue->model_id == model_id) frames += queue->frames.size();
  }
  return static_cast<int>(frames);
}

int DeviceExecutor::queued_requests(const std::string& model_id) const {
  std::lock_guard lock(mutex_);
  std::size_t works = 0;
  for (const auto& [key, queue] : queues_) {
    if (queue->model_id == model_id) works += queue->works;
  }
  return static_cast<int>(works);
}

std::size_t DeviceExecutor::queued_windows() const {
  std::lock_guard lock(mutex_);
  return queued_windows_;
}

void DeviceExecutor::answer_locked(Work& work, Result<RenderResult> result) {
  if (work.answered) return;
  work.answered = true;
  if (work.queued > 0) drop_queued_locked(work);
  if (result.ok() && work.work.on_done) work.work.on_done(*result);
  work.promise.set_value(std::move(result));
}

void DeviceExecutor::left_queue_locked(ModelQueue& queue, Work& work) {
  --queued_frames_;
  if (--work.queued == 0) --queue.works;
}

// Removes the frames of `work` from its model's queue (the queue itself stays, possibly empty).
void DeviceExecutor::drop_queued_locked(Work& work) {
  auto found = queues_.find(queue_key_of(work.work));
  if (found == queues_.end()) return;
  ModelQueue& queue = *found->second;
  for (auto it = queue.frames.begin(); it != queue.frames.end() && work.queued > 0;) {
    if (it->work.get() != &work) {
      ++it;
      continue;
    }
    queue.enqueued.erase(queue.enqueued.find(it->enqueued));
    it = queue.frames.erase(it);
    left_queue_locked(queue, work);
  }
}

}  // namespace lipsync::pipeline
