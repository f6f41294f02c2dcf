// The device executor's steps: forming batches, preparing them, running them on the device's
// thread and delivering their frames (device_executor.h has the rules).
#include <algorithm>

#include "pipeline/device_executor_internal.h"

namespace lipsync::pipeline {

using detail::cancelled_status;
using detail::guarded;
using detail::ms_between;
using detail::ms_since_start;

bool DeviceExecutor::idle_locked() const {
  return queued_frames_ == 0 && formed_.empty() && encode_queue_.empty() && device_tasks_.empty();
}

DeviceExecutor::ModelQueue* DeviceExecutor::ready_model_locked(TimePoint now,
                                                               TimePoint* next_ready) {
  ModelQueue* best = nullptr;
  for (auto& [key, queue] : queues_) {
    if (queue->frames.empty()) continue;
    const bool full = queue->frames.size() >= static_cast<std::size_t>(options_.max_batch);
    const TimePoint ready_at =
        full || stopping_ ? now : *queue->enqueued.begin() + options_.max_queue_delay;
    if (ready_at > now) {
      *next_ready = std::min(*next_ready, ready_at);
      continue;
    }
    if (best == nullptr || ByDeadline()(*queue->frames.begin(), *best->frames.begin()))
      best = queue.get();
  }
  return best;
}

TimePoint DeviceExecutor::form_batches_locked(TimePoint now) {
  TimePoint next_ready = TimePoint::max();
  while (formed_.size() < static_cast<std::size_t>(options_.prepare_ahead)) {
    ModelQueue* queue = ready_model_locked(now, &next_ready);
    if (queue == nullptr) break;
    form_batch_locked(*queue, now);
  }
  std::erase_if(queues_, [](const auto& entry) { return entry.second->frames.empty(); });
  return next_ready;
}

void DeviceExecutor::form_batch_locked(ModelQueue& queue, TimePoint now) {
  auto batch = std::make_shared<Batch>();
  batch->runner = queue.runner;
  batch->model_id = queue.model_id;
  batch->composite = queue.composite;
  const auto max_frames = static_cast<std::size_t>(options_.max_batch);
  std::vector<const Work*> works;
  while (!queue.frames.empty() && batch->frames.size() < max_frames) {
    QueuedFrame frame = std::move(queue.frames.extract(queue.frames.begin()).value());
    queue.enqueued.erase(queue.enqueued.find(frame.enqueued));
    Work& work = *frame.work;
    left_queue_locked(queue, work);
    if (work.answered) continue;
    if (work.work.request.cancel != nullptr && work.work.request.cancel->is_set()) {
      stats_.cancelled += static_cast<std::int64_t>(work.queued + 1);
      answer_locked(work, cancelled_status());
      continue;
    }
    if (!work.started) {
      work.started = true;
      work.result.queue_ms = ms_between(work.submitted, now);
    }
    if (std::find(works.begin(), works.end(), &work) == works.end()) works.push_back(&work);
    batch->jobs.push_back(work.jobs[frame.index]);
    batch->frames.push_back(std::move(frame));
  }
  if (batch->frames.empty()) return;
  batch->id = ++next_batch_id_;
  batch->slots = batch_size_for(static_cast<int>(batch->frames.size()));
  batch->requests = static_cast<int>(works.size());
  formed_.push_back(std::move(batch));
}

void DeviceExecutor::device_loop() {
  std::unique_lock lock(mutex_);
  bool encoder_turn = true;  // a step: one encoder run, then one UNet batch
  while (true) {
    if (!device_tasks_.empty()) {
      std::packaged_task<Status()> task = std::move(device_tasks_.front());
      device_tasks_.pop_front();
      lock.unlock();
      task();
      lock.lock();
      continue;
    }
    const bool batch_ready = !formed_.empty() && formed_.front()->state == Batch::State::kPrepared;
    if (!encode_queue_.empty() && (encoder_turn || !batch_ready)) {
      run_encoder(lock);
      encoder_turn = false;
      continue;
    }
    if (batch_ready) {
      execute_head(lock);
      encoder_turn = true;
      continue;
    }
    if (stopping_ && idle_locked()) break;
    device_wake_.wait(lock);
  }
  device_done_ = true;
  prepare_wake_.notify_all();
  lock.unlock();
  to_finish_.close();
}

// Forms batches (while the device runs the previous ones, so that frames arriving meanwhile
// can join them) and prepares them, one after the other.
void DeviceExecutor::prepare_loop() {
  std::unique_lock lock(mutex_);
  while (!device_done_) {
    const TimePoint next_ready = form_batches_locked(ExecutorClock::now());
    BatchPtr batch;
    for (const auto& formed : formed_) {
      if (formed->state == Batch::State::kWaiting) {
        batch = formed;
        break;
      }
    }
    if (batch == nullptr) {
      if (next_ready == TimePoint::max()) {
        prepare_wake_.wait(lock);
      } else {
        prepare_wake_.wait_until(lock, next_ready);
      }
      continue;
    }
    batch->state = Batch::State::kPreparing;
    lock.unlock();
    const auto start = ExecutorClock::now();
    auto prepared = guarded("preparing a batch of model '" + batch->model_id + "'", [&] {
      return batch->runner->prepare(batch->jobs, batch->slots, pool_);
    });
    const double prepare_ms = ms_since_start(start);
    detail::note_slow_step(device_, prepare_ms, "preparing a batch of {} slots", batch->slots);
    lock.lock();
    batch->timings.prepare_ms = prepare_ms;
    if (prepared.ok()) {
      batch->prepared = std::move(prepared).value();
    } else {
      batch->status = prepared.status();
    }
    batch->state = Batch::State::kPrepared;
    device_wake_.notify_one();
  }
}

void DeviceExecutor::execute_head(std::unique_lock<std::mutex>& lock) {
  BatchPtr batch = std::move(formed_.front());
  formed_.pop_front();
  prepare_wake_.notify_one();  // room to form the next batch while this one runs
  if (batch->status.ok()) {
    lock.unlock();
    const auto start = ExecutorClock::now();
    batch->status = guarded("running a batch of model '" + batch->model_id + "'",
                            [&] { return batch->runner->execute(*batch->prepared); });
    batch->timings.inference_ms = ms_since_start(start);
    detail::note_slow_step(device_, batch->timings.inference_ms, "a UNet batch of {} slots",
                           batch->slots);
    lock.lock();
  }
  if (!batch->status.ok()) {
    for (auto& frame : batch->frames) answer_locked(*frame.work, batch->status);
    return;
  }
  const int frames = static_cast<int>(batch->frames.size());
  ++stats_.batches;
  stats_.frames += frames;
  stats_.padded_slots += batch->slots - frames;
  stats_.largest_batch_frames = std::max(stats_.largest_batch_frames, frames);
  stats_.largest_batch_requests = std::max(stats_.largest_batch_requests, batch->requests);
  ++stats_.batches_by_size[batch->slots];
  lock.unlock();
  const auto handed = ExecutorClock::now();
  to_finish_.push(std::move(batch));  // waits while the finisher is two batches behind
  detail::note_slow_step(device_, ms_since_start(handed), "waiting for the finisher");
  lock.lock();
}

void DeviceExecutor::finish_loop() {
  while (auto item = to_finish_.pop()) {
    Batch& batch = **item;
    const auto start = ExecutorClock::now();
    auto rendered = guarded("finishing a batch of model '" + batch.model_id + "'", [&] {
      return batch.runner->finish(*batch.prepared, batch.composite, pool_);
    });
    batch.timings.composite_ms = ms_since_start(start);
    detail::note_slow_step(device_, batch.timings.composite_ms, "finishing a batch of {} frames",
                           batch.frames.size());
    batch.prepared.reset();  // gives the staging memory back before the answers go out
    deliver(batch, std::move(rendered));
  }
}

void DeviceExecutor::deliver(Batch& batch, Result<RenderedBatch> rendered) {
  // Observed before any answer goes out: a caller that reads the metrics once its answer came
  // sees its batch (CompatServiceTest.MetricsCountRequestsBatchesAndModels missed it under load).
  if (observer_) {
    std::size_t queued = 0;
    {
      std::lock_guard lock(mutex_);
      for (const auto& [key, queue] : queues_) {
        if (key.runner == batch.runner.get()) queued += queue->frames.size();
      }
    }
    observer_(batch.model_id, static_cast<int>(batch.frames.size()), static_cast<int>(queued));
  }
  std::unique_lock lock(mutex_);
  if (rendered.ok() && (rendered->frames.size() < batch.frames.size() &&
                        rendered->jpegs.size() < batch.frames.size())) {
    rendered = make_error(ErrorCode::kInternal, "model '{}': {} frames back from a batch of {}",
                          batch.model_id, std::max(rendered->frames.size(), rendered->jpegs.size()),
                          batch.frames.size());
  }
  for (std::size_t k = 0; k < batch.frames.size(); ++k) {
    Work& work = *batch.frames[k].work;
    if (work.answered) continue;  // failed or cancelled meanwhile
    if (!rendered.ok()) {
      answer_locked(work, rendered.status());
      continue;
    }
    RenderResult& result = work.result;
    if (work.last_batch != batch.id) {
      work.last_batch = batch.id;
      result.timings.prepare_ms += batch.timings.prepare_ms;
      result.timings.inference_ms += batch.timings.inference_ms;
      result.timings.composite_ms += batch.timings.composite_ms;
      result.batch_frames = std::max(result.batch_frames, static_cast<int>(batch.frames.size()));
    }
    const std::size_t index = batch.frames[k].index;
    if (work.work.request.jpeg) {
      result.jpegs[index] = std::move(rendered->jpegs[k]);
    } else {
      result.frames[index] = std::move(rendered->frames[k]);
    }
    if (--work.unfinished == 0 && work.queued == 0) {
      ++stats_.requests;
      answer_locked(work, std::move(result));
    }
  }
}

}  // namespace lipsync::pipeline
