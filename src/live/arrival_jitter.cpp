#include "live/arrival_jitter.h"

#include <algorithm>

#include "core/timeline.h"

namespace lipsync::live {
namespace {

ArrivalJitter::Duration audio_duration(std::size_t samples) {
  return std::chrono::duration_cast<ArrivalJitter::Duration>(
      std::chrono::duration<double>(static_cast<double>(samples) / timeline::kSampleRateHz));
}

}  // namespace

void ArrivalJitter::start_utterance() {
  if (anchored_) {
    recent_.push_back(current_);
    if (recent_.size() > kRemembered) recent_.pop_front();
  }
  current_ = Duration(0);
  anchored_ = false;
  samples_ = 0;
}

void ArrivalJitter::arrived(std::size_t samples, TimePoint at, bool anchor) {
  const std::size_t before = samples_;
  samples_ += samples;
  if (!anchored_) {
    if (!anchor) return;
    anchored_ = true;
    anchor_ = at - audio_duration(samples_);
    return;
  }
  const auto frame = static_cast<std::size_t>(timeline::kSamplesPerFrame);
  const TimePoint due = anchor_ + audio_duration(std::min(samples_, before + frame));
  current_ = std::max(current_, at - due);
}

ArrivalJitter::Duration ArrivalJitter::buffer(Duration tolerated) const {
  Duration late(0);
  for (const Duration d : recent_) late = std::max(late, d);
  return std::clamp(late - tolerated, Duration(0), max_buffer_);
}

double ArrivalJitter::late_ms() const {
  Duration late = current_;
  for (const Duration d : recent_) late = std::max(late, d);
  return std::chrono::duration<double, std::milli>(late).count();
}

}  // namespace lipsync::live
