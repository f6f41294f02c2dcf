#include "live/idle_frames.h"

#include <chrono>
#include <utility>
#include <vector>

namespace lipsync::live {
namespace {

bool is_ready(const std::shared_future<Result<Jpeg>>& future) {
  return future.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
}

}  // namespace

std::string_view to_string(IdleMode mode) {
  return mode == IdleMode::kSource ? "source" : "silent_model";
}

Result<IdleMode> parse_idle_mode(std::string_view name) {
  if (name == "silent_model") return IdleMode::kSilentModel;
  if (name == "source") return IdleMode::kSource;
  return make_error(ErrorCode::kInvalidArgument,
                    "idle mode '{}' is unknown: use 'silent_model' (the model on silence) or "
                    "'source' (the frames untouched)",
                    name);
}

IdleFrames::IdleFrames(IdleMode mode, std::vector<float> silence, std::size_t max_bytes)
    : mode_(mode), silence_(std::move(silence)), max_bytes_(max_bytes) {}

std::shared_future<Result<Jpeg>> IdleFrames::frame(std::int64_t source, LiveRenderer& renderer,
                                                   TimePoint deadline) {
  std::lock_guard lock(mutex_);
  count_finished();
  if (const auto it = entries_.find(source); it != entries_.end()) {
    const bool failed = is_ready(it->second.jpeg) && !it->second.jpeg.get().ok();
    if (!failed) return it->second.jpeg;
    entries_.erase(it);
  }
  std::shared_future<Result<Jpeg>> jpeg = produce(source, renderer, deadline);
  if (bytes_ < max_bytes_) keep(source, jpeg);
  return jpeg;
}

std::shared_future<Result<Jpeg>> IdleFrames::produce(std::int64_t source, LiveRenderer& renderer,
                                                     TimePoint deadline) {
  ++renders_;
  if (mode_ == IdleMode::kSilentModel) {
    return renderer.render(source, silence_, deadline, nullptr).share();
  }
  std::promise<Result<Jpeg>> promise;
  promise.set_value(renderer.source_frame(source));
  return promise.get_future().share();
}

// Adds the size of frames that finished since the last call (the budget counts what is held).
void IdleFrames::count_finished() {
  std::erase_if(uncounted_, [&](std::int64_t source) {
    const auto it = entries_.find(source);
    if (it == entries_.end() || it->second.counted) return true;
    if (!is_ready(it->second.jpeg)) return false;
    const Result<Jpeg>& jpeg = it->second.jpeg.get();
    if (jpeg.ok() && *jpeg) bytes_ += (*jpeg)->size();
    it->second.counted = true;
    return true;
  });
}

void IdleFrames::prefetch(std::int64_t source, LiveRenderer& renderer, TimePoint deadline) {
  std::lock_guard lock(mutex_);
  count_finished();
  if (bytes_ >= max_bytes_ || entries_.contains(source)) return;
  keep(source, produce(source, renderer, deadline));
}

void IdleFrames::keep(std::int64_t source, std::shared_future<Result<Jpeg>> jpeg) {
  entries_[source] = Entry{.jpeg = std::move(jpeg)};
  uncounted_.push_back(source);
}

bool IdleFrames::ready(std::int64_t source) const {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(source);
  return it != entries_.end() && is_ready(it->second.jpeg) && it->second.jpeg.get().ok();
}

std::size_t IdleFrames::cached_frames() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

std::size_t IdleFrames::cached_bytes() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}

std::int64_t IdleFrames::renders() const {
  std::lock_guard lock(mutex_);
  return renders_;
}

}  // namespace lipsync::live
