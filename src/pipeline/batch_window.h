// A clip's frames through the Scheduler in batches of up to max_batch frames, with a bounded
// number of batches in flight so that a long clip cannot flood the model's queue and other
// requests' frames can join its batches. `lipsync render` (render_clip below) and the server's
// native API and page all render clips this way.
//
//   ASSIGN_OR_RETURN(ClipPlan plan, plan_clip(spec, samples, mel, encoder, registry));
//   BatchWindow window(scheduler, plan, config.pipeline);
//   while (!window.done()) { ASSIGN_OR_RETURN(ClipBatch batch, window.next()); ... }
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <span>
#include <vector>

#include "core/config.h"
#include "core/image.h"
#include "core/status.h"
#include "pipeline/batch_renderer.h"
#include "pipeline/clip_plan.h"
#include "pipeline/scheduler.h"

namespace lipsync::pipeline {

// Batches of one clip queued or running at once.
inline constexpr int kBatchesInFlight = 3;

// One finished batch: output frames [first, first + count()).
struct ClipBatch {
  std::int64_t first = 0;
  std::vector<std::int64_t> source_frames;
  RenderResult result;

  std::size_t count() const { return source_frames.size(); }
  // Frame k's bytes: its JPEG, or its BGR pixels (rows of width·3 bytes).
  std::span<const std::uint8_t> frame_bytes(std::size_t k) const;
};

// Submits a clip's batches of up to pipeline.max_batch frames, at most
// min(kBatchesInFlight, pipeline.max_queue_depth) at once, and hands them back in order, so
// that the model's pipeline has the clip's next batch while it runs one.
// Admission: a batch the model's full queue refuses at once is retried after the clip's oldest
// pending batch finishes; with none of the clip's batches pending, the refusal
// (RESOURCE_EXHAUSTED) is the answer. A started clip thus yields to others instead of failing.
class BatchWindow {
 public:
  // The scheduler request for frames [first, first + count) of the clip.
  using RequestFor = std::function<RenderRequest(std::int64_t first, std::int64_t count)>;

  // `plan` must outlive the window.
  BatchWindow(Scheduler& scheduler, const ClipPlan& plan, const PipelineSection& pipeline);
  // Batches of `max_batch` frames, `in_flight` at once.
  BatchWindow(Scheduler& scheduler, const ClipPlan& plan, int max_batch,
              int in_flight = kBatchesInFlight);
  // Any `frame_count` frames, their requests made by `request_for` (a live session's ready
  // frames). ClipBatch::first counts from 0.
  BatchWindow(Scheduler& scheduler, std::int64_t frame_count, RequestFor request_for,
              const PipelineSection& pipeline);

  // Cancels the batches still in flight (a call that stops early: their queued frames never
  // run).
  ~BatchWindow();
  BatchWindow(const BatchWindow&) = delete;
  BatchWindow& operator=(const BatchWindow&) = delete;

  bool done() const { return pending_.empty() && next_first_ >= frame_count_; }
  // Tops the window up, then waits for the oldest batch. Stop calling it (e.g. on cancellation)
  // and nothing more is submitted; batches in flight still run.
  Result<ClipBatch> next();

 private:
  void top_up();

  struct Pending {
    std::int64_t first = 0;
    std::vector<std::int64_t> source_frames;
    std::future<Result<RenderResult>> result;
  };

  Scheduler& scheduler_;
  // Frame i of the clip is due i frame periods after the window started (arrival order),
  // unless request_for sets deadlines (a live session's).
  const TimePoint arrival_ = ExecutorClock::now();
  const std::shared_ptr<CancelFlag> cancel_ = std::make_shared<CancelFlag>();
  const std::int64_t frame_count_;
  const RequestFor request_for_;
  const std::int64_t max_batch_;
  const std::size_t in_flight_;
  std::int64_t next_first_ = 0;
  std::deque<Pending> pending_;
};

struct ClipStats {
  std::int64_t frames = 0;
  double audio_ms = 0;                  // the plan's mel + encoder
  BatchTimings totals;                  // summed over the clip's batches
  double first_batch_inference_ms = 0;  // includes the runtime's warm-up (e.g. cuDNN search)
};

// Called once per output frame, in order; an error stops the render and is returned.
using FrameSink = std::function<Status(std::int64_t index, const Image& frame)>;
// Called after each batch with (frames done, frames in the clip).
using ProgressFn = std::function<void(std::int64_t done, std::int64_t total)>;

// Renders a whole plan of BGR frames (spec.jpeg unset) through a BatchWindow and hands its
// frames to `sink` in order (`lipsync render`). A sink error stops submitting; the batches in
// flight still finish in the scheduler. The statistics assume the clip's batches are not merged
// with other requests (a scheduler of its own).
Result<ClipStats> render_clip(Scheduler& scheduler, const ClipPlan& plan,
                              const PipelineSection& pipeline, const FrameSink& sink,
                              const ProgressFn& progress = {});

}  // namespace lipsync::pipeline
