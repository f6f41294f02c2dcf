#include "pipeline/batch_window.h"

#include <algorithm>
#include <chrono>

namespace lipsync::pipeline {
namespace {

void add(BatchTimings& total, const BatchTimings& batch) {
  total.prepare_ms += batch.prepare_ms;
  total.inference_ms += batch.inference_ms;
  total.composite_ms += batch.composite_ms;
}

}  // namespace

std::span<const std::uint8_t> ClipBatch::frame_bytes(std::size_t k) const {
  if (!result.jpegs.empty()) return result.jpegs[k];
  return result.frames[k].pixels;
}

BatchWindow::BatchWindow(Scheduler& scheduler, const ClipPlan& plan,
                         const PipelineSection& pipeline)
    : BatchWindow(scheduler, plan, pipeline.max_batch,
                  std::min(pipeline.max_queue_depth, kBatchesInFlight)) {}

BatchWindow::BatchWindow(Scheduler& scheduler, const ClipPlan& plan, int max_batch, int in_flight)
    : scheduler_(scheduler),
      frame_count_(plan.frame_count()),
      request_for_([&plan](std::int64_t first, std::int64_t count) {
        return batch_request(plan, first, count);
      }),
      max_batch_(std::max(1, max_batch)),
      in_flight_(static_cast<std::size_t>(std::max(1, in_flight))) {}

BatchWindow::BatchWindow(Scheduler& scheduler, std::int64_t frame_count, RequestFor request_for,
                         const PipelineSection& pipeline)
    : scheduler_(scheduler),
      frame_count_(frame_count),
      request_for_(std::move(request_for)),
      max_batch_(std::max(1, pipeline.max_batch)),
      in_flight_(static_cast<std::size_t>(
          std::max(1, std::min(pipeline.max_queue_depth, kBatchesInFlight)))) {}

BatchWindow::~BatchWindow() {
  if (!pending_.empty()) scheduler_.cancel(cancel_);
}

void BatchWindow::top_up() {
  while (pending_.size() < in_flight_ && next_first_ < frame_count_) {
    const std::int64_t count = std::min(max_batch_, frame_count_ - next_first_);
    RenderRequest request = request_for_(next_first_, count);
    if (request.deadlines.empty()) {
      request.deadlines = arrival_deadlines(arrival_, next_first_, static_cast<std::size_t>(count));
    }
    if (request.cancel == nullptr) request.cancel = cancel_;
    Pending pending{.first = next_first_, .source_frames = request.source_frames};
    pending.result = scheduler_.submit(std::move(request));
    const bool answered =
        pending.result.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
    if (answered && !pending_.empty()) {
      Result<RenderResult> result = pending.result.get();
      if (result.status().code() == ErrorCode::kResourceExhausted) return;  // retried later
      std::promise<Result<RenderResult>> kept;  // any other answer stays in order
      kept.set_value(std::move(result));
      pending.result = kept.get_future();
    }
    pending_.push_back(std::move(pending));
    next_first_ += count;
  }
}

Result<ClipBatch> BatchWindow::next() {
  top_up();
  if (pending_.empty())
    return make_error(ErrorCode::kInternal, "BatchWindow::next called after the last batch");
  Pending oldest = std::move(pending_.front());
  pending_.pop_front();
  ASSIGN_OR_RETURN(RenderResult result, oldest.result.get());
  return ClipBatch{.first = oldest.first,
                   .source_frames = std::move(oldest.source_frames),
                   .result = std::move(result)};
}

Result<ClipStats> render_clip(Scheduler& scheduler, const ClipPlan& plan,
                              const PipelineSection& pipeline, const FrameSink& sink,
                              const ProgressFn& progress) {
  if (plan.spec.jpeg) {
    return make_error(ErrorCode::kInvalidArgument,
                      "render_clip hands BGR frames to its sink; the plan asks for JPEGs");
  }
  ClipStats stats{.audio_ms = plan.audio_ms};
  BatchWindow window(scheduler, plan, pipeline);
  while (!window.done()) {
    ASSIGN_OR_RETURN(const ClipBatch batch, window.next());
    if (batch.first == 0) stats.first_batch_inference_ms = batch.result.timings.inference_ms;
    add(stats.totals, batch.result.timings);
    for (std::size_t k = 0; k < batch.count(); ++k) {
      RETURN_IF_ERROR(sink(batch.first + static_cast<std::int64_t>(k), batch.result.frames[k]));
    }
    stats.frames += static_cast<std::int64_t>(batch.count());
    if (progress) progress(stats.frames, plan.frame_count());
  }
  return stats;
}

}  // namespace lipsync::pipeline
