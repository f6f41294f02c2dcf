#include "pipeline/clip_plan.h"

#include <algorithm>
#include <chrono>

#include "pipeline/lipsync_model.h"

namespace lipsync::server {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// The same steps as render_clip (pipeline.md §1-2): mel, encoder windows, F_pad.
Result<audio::ClipFeatures> clip_features(std::span<const float> samples,
                                          const audio::MelAnalyzer& mel,
                                          audio::FeatureEncoder& encoder) {
  if (samples.size() < audio::kMinAudioSamples) {
    return make_error(ErrorCode::kInvalidArgument,
                      "audio is {:.3f} s long; at least {:.3f} s is needed for one frame",
                      samples.size() / double(audio::kSampleRateHz),
                      audio::kMinAudioSamples / double(audio::kSampleRateHz));
  }
  ASSIGN_OR_RETURN(auto spectrogram, mel.compute(samples));
  return audio::extract_clip_features(spectrogram, encoder);
}

}  // namespace

Status check_start_frame(std::int64_t start_frame) {
  if (start_frame < 0 || start_frame > kMaxStartFrame) {
    return make_error(ErrorCode::kInvalidArgument, "start_frame {} outside 0..{}", start_frame,
                      kMaxStartFrame);
  }
  return {};
}

// A missing file (NOT_FOUND) or a bad ONNX (INVALID_ARGUMENT) of a configured model would
// mislead a client as its own error.
Status model_load_failure(const Status& status, const std::string& model_id) {
  ErrorCode code = status.code();
  if (code != ErrorCode::kResourceExhausted && code != ErrorCode::kUnavailable)
    code = ErrorCode::kFailedPrecondition;
  return Status(code, fmt::format("model '{}' cannot be loaded: {}", model_id, status.message()));
}

std::int64_t sequenced_source_frame(const ClipSpec& spec, const ClipModel& model, std::int64_t i) {
  // ref: pipeline.md §7. Both modes read the sequence at a clip-global position; for wrap this
  // is (start + i) mod N, as imaging::source_frame_index(kWrap, i, N, start).
  return imaging::source_frame_index(spec.sequence, spec.start_frame + i, model.frame_count);
}

std::int64_t ClipPlan::source_frame(std::int64_t i) const {
  return sequenced_source_frame(spec, model, i);
}

pipeline::RenderRequest session_request(const ClipSpec& spec, const ClipModel& model,
                                        std::span<const audio::FrameTensor> frames) {
  pipeline::RenderRequest request{.model_id = spec.model_id, .jpeg = spec.jpeg};
  request.audio.reserve(frames.size() * audio::kFrameTensorSize);
  for (const audio::FrameTensor& frame : frames) {
    request.source_frames.push_back(
        sequenced_source_frame(spec, model, static_cast<std::int64_t>(frame.index)));
    request.audio.insert(request.audio.end(), frame.values.begin(), frame.values.end());
  }
  return request;
}

Result<ClipModel> acquire_clip_model(registry::ModelRegistry& registry,
                                     const std::string& model_id) {
  ASSIGN_OR_RETURN(const registry::ModelInfo before, registry.info(model_id));
  const auto start = Clock::now();
  auto handle = registry.acquire(model_id);
  if (!handle.ok()) return model_load_failure(handle.status(), model_id);
  const auto& avatar = handle->get<pipeline::LipSyncModel>().avatar();
  ClipModel model{.frame_count = static_cast<std::int64_t>(avatar.frame_count()),
                  .width = avatar.info().width,
                  .height = avatar.info().height,
                  .loaded_now = before.state != registry::ModelState::kReady};
  if (model.loaded_now) model.load_ms = ms_since(start);
  if (model.frame_count == 0)
    return make_error(ErrorCode::kFailedPrecondition, "model '{}' has no frames", model_id);
  return model;
}

Result<ClipPlan> plan_clip(ClipSpec spec, std::span<const float> samples,
                           const audio::MelAnalyzer& mel, audio::FeatureEncoder& encoder,
                           registry::ModelRegistry& registry) {
  RETURN_IF_ERROR(check_start_frame(spec.start_frame));
  RETURN_IF_ERROR(registry.info(spec.model_id).status());  // NOT_FOUND before any work
  ClipPlan plan{.spec = std::move(spec)};
  const auto audio_start = Clock::now();
  ASSIGN_OR_RETURN(plan.features, clip_features(samples, mel, encoder));
  plan.audio_ms = ms_since(audio_start);
  ASSIGN_OR_RETURN(plan.model, acquire_clip_model(registry, plan.spec.model_id));
  return plan;
}

std::span<const std::uint8_t> ClipBatch::frame_bytes(std::size_t k) const {
  if (!result.jpegs.empty()) return result.jpegs[k];
  return result.frames[k].pixels;
}

pipeline::RenderRequest batch_request(const ClipPlan& plan, std::int64_t first,
                                      std::int64_t count) {
  pipeline::RenderRequest request{.model_id = plan.spec.model_id, .jpeg = plan.spec.jpeg};
  request.audio.resize(static_cast<std::size_t>(count) * audio::kFrameTensorSize);
  const audio::ClipFeatures& features = plan.features;
  for (std::int64_t k = 0; k < count; ++k) {
    request.source_frames.push_back(plan.source_frame(first + k));
    // ref: pipeline.md §3, as audio::clip_frame_tensors for the whole clip.
    audio::write_frame_tensor(features.padded_features, features.padded_rows(),
                              static_cast<std::size_t>(first + k),
                              std::span(request.audio)
                                  .subspan(static_cast<std::size_t>(k) * audio::kFrameTensorSize,
                                           audio::kFrameTensorSize));
  }
  return request;
}

BatchWindow::BatchWindow(pipeline::Scheduler& scheduler, const ClipPlan& plan,
                         const PipelineSection& pipeline)
    : BatchWindow(scheduler, plan, pipeline.max_batch,
                  std::min(pipeline.max_queue_depth, kBatchesInFlight)) {}

BatchWindow::BatchWindow(pipeline::Scheduler& scheduler, const ClipPlan& plan, int max_batch,
                         int in_flight)
    : scheduler_(scheduler),
      frame_count_(plan.frame_count()),
      request_for_([&plan](std::int64_t first, std::int64_t count) {
        return batch_request(plan, first, count);
      }),
      max_batch_(std::max(1, max_batch)),
      in_flight_(static_cast<std::size_t>(std::max(1, in_flight))) {}

BatchWindow::BatchWindow(pipeline::Scheduler& scheduler, std::int64_t frame_count,
                         RequestFor request_for, const PipelineSection& pipeline)
    : scheduler_(scheduler),
      frame_count_(frame_count),
      request_for_(std::move(request_for)),
      max_batch_(std::max(1, pipeline.max_batch)),
      in_flight_(static_cast<std::size_t>(
          std::max(1, std::min(pipeline.max_queue_depth, kBatchesInFlight)))) {}

void BatchWindow::top_up() {
  while (pending_.size() < in_flight_ && next_first_ < frame_count_) {
    const std::int64_t count = std::min(max_batch_, frame_count_ - next_first_);
    pipeline::RenderRequest request = request_for_(next_first_, count);
    Pending pending{.first = next_first_, .source_frames = request.source_frames};
    pending.result = scheduler_.submit(std::move(request));
    const bool answered =
        pending.result.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
    if (answered && !pending_.empty()) {
      Result<pipeline::RenderResult> result = pending.result.get();
      if (result.status().code() == ErrorCode::kResourceExhausted) return;  // retried later
      std::promise<Result<pipeline::RenderResult>> kept;  // any other answer stays in order
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
  ASSIGN_OR_RETURN(pipeline::RenderResult result, oldest.result.get());
  return ClipBatch{.first = oldest.first,
                   .source_frames = std::move(oldest.source_frames),
                   .result = std::move(result)};
}

}  // namespace lipsync::server
