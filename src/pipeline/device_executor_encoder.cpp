// The device executor's audio encoder: windows of every caller queued by deadline, one encoder
// run per step (device_executor.h).
#include <algorithm>

#include "pipeline/device_executor_internal.h"

namespace lipsync::pipeline {

using detail::cancelled_status;
using detail::guarded;
using detail::ms_between;
using detail::ms_since_start;

std::future<Result<std::vector<float>>> DeviceExecutor::encode(std::vector<float> windows,
                                                               std::size_t count,
                                                               TimePoint deadline,
                                                               std::shared_ptr<CancelFlag> cancel) {
  auto work = std::make_shared<EncodeWork>();
  auto future = work->promise.get_future();
  if (count == 0 || windows.size() != count * audio::kWindowSize) {
    work->promise.set_value(make_error(ErrorCode::kInvalidArgument,
                                       "audio encoder: {} values for {} windows of [1, 80, 16]",
                                       windows.size(), count));
    return future;
  }
  if (encoder_ == nullptr) {
    work->promise.set_value(
        make_error(ErrorCode::kFailedPrecondition, "device '{}' has no audio encoder", device_));
    return future;
  }
  work->windows = std::move(windows);
  work->count = count;
  work->features.resize(count * audio::kFeatureSize);
  work->deadline = deadline;
  work->cancel = std::move(cancel);
  std::lock_guard lock(mutex_);
  if (stopping_) {
    work->promise.set_value(
        make_error(ErrorCode::kUnavailable, "executor '{}' is shutting down", device_));
    return future;
  }
  if (work->cancel != nullptr && work->cancel->is_set()) {
    work->promise.set_value(cancelled_status());
    return future;
  }
  if (queued_windows_ > 0 && queued_windows_ + count > options_.max_queued_windows) {
    ++stats_.rejected;
    work->promise.set_value(make_error(
        ErrorCode::kResourceExhausted,
        "device '{}' has {} mel windows waiting for the audio encoder (limit {}); retry later",
        device_, queued_windows_, options_.max_queued_windows));
    return future;
  }
  work->sequence = next_sequence_++;
  encode_queue_.insert(work);
  queued_windows_ += count;
  device_wake_.notify_one();
  return future;
}

void DeviceExecutor::answer_encode_locked(EncodeWork& work, Result<std::vector<float>> result) {
  if (work.answered) return;
  work.answered = true;
  for (auto it = encode_queue_.begin(); it != encode_queue_.end(); ++it) {
    if (it->get() == &work) {
      queued_windows_ -= work.count - work.taken;
      encode_queue_.erase(it);
      break;
    }
  }
  work.promise.set_value(std::move(result));
}

void DeviceExecutor::run_encoder(std::unique_lock<std::mutex>& lock) {
  struct Piece {
    std::shared_ptr<EncodeWork> work;
    std::size_t first = 0;
    std::size_t count = 0;
  };
  std::vector<Piece> pieces;
  std::vector<float> input;
  std::size_t total = 0;
  for (auto it = encode_queue_.begin();
       it != encode_queue_.end() && total < options_.encoder_max_batch;) {
    std::shared_ptr<EncodeWork> work = *it;
    const std::size_t take =
        std::min(work->count - work->taken, options_.encoder_max_batch - total);
    const auto from =
        work->windows.begin() + static_cast<std::ptrdiff_t>(work->taken * audio::kWindowSize);
    input.insert(input.end(), from, from + static_cast<std::ptrdiff_t>(take * audio::kWindowSize));
    pieces.push_back({work, work->taken, take});
    work->taken += take;
    total += take;
    queued_windows_ -= take;
    it = work->taken == work->count ? encode_queue_.erase(it) : std::next(it);
  }
  lock.unlock();
  const auto start = ExecutorClock::now();
  auto features =
      guarded("the audio encoder on " + device_, [&] { return encoder_->encode(input, total); });
  detail::note_slow_step(device_, ms_since_start(start), "an audio encoder run of {} windows",
                         total);
  if (features.ok() && features->size() != total * audio::kFeatureSize) {
    features =
        make_error(ErrorCode::kInternal, "the audio encoder returned {} values for {} windows",
                   features->size(), total);
  }
  lock.lock();
  ++stats_.encoder_runs;
  stats_.encoder_windows += static_cast<std::int64_t>(total);
  stats_.largest_encoder_run = std::max(stats_.largest_encoder_run, total);
  stats_.largest_encoder_run_requests =
      std::max(stats_.largest_encoder_run_requests, static_cast<int>(pieces.size()));
  std::size_t offset = 0;
  for (Piece& piece : pieces) {
    EncodeWork& work = *piece.work;
    if (work.answered) {  // cancelled meanwhile
      offset += piece.count;
      continue;
    }
    if (!features.ok()) {
      answer_encode_locked(work, features.status());
      continue;
    }
    std::copy_n(
        features->begin() + static_cast<std::ptrdiff_t>(offset * audio::kFeatureSize),
        piece.count * audio::kFeatureSize,
        work.features.begin() + static_cast<std::ptrdiff_t>(piece.first * audio::kFeatureSize));
    offset += piece.count;
    work.done += piece.count;
    if (work.done == work.count) answer_encode_locked(work, std::move(work.features));
  }
}

}  // namespace lipsync::pipeline
