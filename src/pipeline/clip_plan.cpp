#include "pipeline/clip_plan.h"

#include "core/clock.h"
#include "pipeline/lipsync_model.h"

namespace lipsync::pipeline {
namespace {

// pipeline.md §1-2: mel, encoder windows, F_pad.
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

std::int64_t clip_frame_count(std::size_t samples) {
  const std::size_t mel_frames = audio::mel_frame_count(samples);
  if (mel_frames < audio::kMinMelFrames) return 0;
  return static_cast<std::int64_t>(audio::window_count(mel_frames) + 2);
}

Status check_start_frame(std::int64_t start_frame) {
  if (start_frame < 0 || start_frame > kMaxStartFrame) {
    return make_error(ErrorCode::kInvalidArgument, "start_frame {} outside 0..{}", start_frame,
                      kMaxStartFrame);
  }
  return {};
}

// A missing file (NOT_FOUND) or a bad ONNX (INVALID_ARGUMENT) of a configured model would
// mislead a client as its own error. The registry's message already names the model.
Status model_load_failure(const Status& status, const std::string& /*model_id*/) {
  ErrorCode code = status.code();
  if (code != ErrorCode::kResourceExhausted && code != ErrorCode::kUnavailable)
    code = ErrorCode::kFailedPrecondition;
  return Status(code, status.message());
}

std::int64_t sequenced_source_frame(const ClipSpec& spec, const ClipModel& model, std::int64_t i) {
  // ref: pipeline.md §7. Both modes read the sequence at a clip-global position; for wrap this
  // is (start + i) mod N, as imaging::source_frame_index(kWrap, i, N, start).
  return imaging::source_frame_index(spec.sequence, spec.start_frame + i, model.frame_count);
}

std::int64_t ClipPlan::source_frame(std::int64_t i) const {
  return sequenced_source_frame(spec, model, i);
}

RenderRequest session_request(const ClipSpec& spec, const ClipModel& model,
                              std::span<const audio::FrameTensor> frames) {
  RenderRequest request{.model_id = spec.model_id, .jpeg = spec.jpeg, .composite = spec.composite};
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
  const auto start = SteadyClock::now();
  auto handle = registry.acquire(model_id);
  if (!handle.ok()) return model_load_failure(handle.status(), model_id);
  const auto& avatar = handle->get<LipSyncModel>().avatar();
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
  const auto audio_start = SteadyClock::now();
  ASSIGN_OR_RETURN(plan.features, clip_features(samples, mel, encoder));
  plan.audio_ms = ms_since(audio_start);
  ASSIGN_OR_RETURN(plan.model, acquire_clip_model(registry, plan.spec.model_id));
  return plan;
}

RenderRequest batch_request(const ClipPlan& plan, std::int64_t first, std::int64_t count) {
  RenderRequest request{
      .model_id = plan.spec.model_id, .jpeg = plan.spec.jpeg, .composite = plan.spec.composite};
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

}  // namespace lipsync::pipeline
