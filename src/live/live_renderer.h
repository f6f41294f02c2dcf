// What a live session renders with: one model's avatar frames, with or without a mouth, as JPEGs.
// The server's implementation submits to the scheduler (live/scheduler_renderer.h); tests use
// small fakes.
#pragma once

#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <vector>

#include "core/status.h"

namespace lipsync::pipeline {
class CancelFlag;  // pipeline/render_request.h
}  // namespace lipsync::pipeline

namespace lipsync::live {

// The scheduler's clock (pipeline::ExecutorClock): deadlines mean the same on both sides.
using LiveClock = std::chrono::steady_clock;
using TimePoint = LiveClock::time_point;

using Jpeg = std::shared_ptr<const std::vector<std::uint8_t>>;

class LiveRenderer {
 public:
  virtual ~LiveRenderer() = default;

  virtual std::int64_t frame_count() const = 0;  // of the avatar
  virtual int width() const = 0;
  virtual int height() const = 0;

  // Avatar frame `source` with the mouth the UNet makes for `features` ([32, 16, 16]), due at
  // `deadline`; `cancel` (may be null) withdraws it while queued.
  virtual std::future<Result<Jpeg>> render(std::int64_t source, std::vector<float> features,
                                           TimePoint deadline,
                                           std::shared_ptr<pipeline::CancelFlag> cancel) = 0;

  // Avatar frame `source` as it is (no model run).
  virtual Result<Jpeg> source_frame(std::int64_t source) = 0;

  // Withdraws the frames submitted with `flag` (an interruption). Sets the flag; renderers
  // with a queue answer its frames CANCELLED at once.
  virtual void cancel(const std::shared_ptr<pipeline::CancelFlag>& flag);
};

}  // namespace lipsync::live
