// A clip's plan, the one path of `lipsync render` and the server's native API and page: 16 kHz
// samples -> the audio features (pipeline.md §1-3) -> output frames sequenced over the avatar
// (pipeline.md §7) -> scheduler requests of consecutive frames. batch_window.h runs the requests.
//
//   ASSIGN_OR_RETURN(ClipPlan plan, plan_clip(spec, samples, mel, encoder, registry));
//   RenderRequest frames_0_to_9 = batch_request(plan, 0, 10);  // what BatchWindow submits
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "audio/audio_features.h"
#include "audio/mel_spectrogram.h"
#include "audio/streaming_extractor.h"
#include "imaging/face_crop.h"
#include "imaging/frame_sequence.h"
#include "media/jpeg_codec.h"
#include "pipeline/scheduler.h"
#include "registry/model_registry.h"

namespace lipsync::pipeline {

// start_frame beyond this (~463 days at 25 fps) is refused as a client bug.
inline constexpr std::int64_t kMaxStartFrame = 1'000'000'000;

struct ClipSpec {
  std::string model_id;
  imaging::SequenceMode sequence = imaging::SequenceMode::kPingPong;
  std::int64_t start_frame = 0;             // sequence position of output frame 0
  std::optional<media::JpegSettings> jpeg;  // unset: raw BGR frames
  imaging::CompositeOptions composite;      // the servers paste as the reference does
};

// What a clip needs to know of the model's avatar.
struct ClipModel {
  std::int64_t frame_count = 0;
  int width = 0;
  int height = 0;
  bool loaded_now = false;  // acquiring it loaded the model
  double load_ms = 0;
};

struct ClipPlan {
  ClipSpec spec;
  ClipModel model;
  audio::ClipFeatures features;  // F_pad: one output frame per row
  double audio_ms = 0;           // mel + encoder

  std::int64_t frame_count() const { return static_cast<std::int64_t>(features.frame_count()); }
  // The avatar frame of output frame i: the sequence at position start_frame + i.
  std::int64_t source_frame(std::int64_t i) const;
};

// Output frame count for a clip of `samples` 16 kHz samples (n + 2, pipeline.md §2); 0 when the
// clip is too short for one encoder window.
std::int64_t clip_frame_count(std::size_t samples);

// INVALID_ARGUMENT unless 0 <= start_frame <= kMaxStartFrame.
Status check_start_frame(std::int64_t start_frame);

// A configured model's load failure as a clip reports it: FAILED_PRECONDITION (a problem of the
// configuration, not an unknown model nor a bad request) unless it is RESOURCE_EXHAUSTED or
// UNAVAILABLE.
Status model_load_failure(const Status& status, const std::string& model_id);

// Checks the spec (start frame range), acquires the model (loading it if needed) and computes
// the clip's features. Errors: NOT_FOUND for an unknown model, INVALID_ARGUMENT for too short
// audio or a bad start frame, FAILED_PRECONDITION when the configured model cannot be loaded.
Result<ClipPlan> plan_clip(ClipSpec spec, std::span<const float> samples,
                           const audio::MelAnalyzer& mel, audio::FeatureEncoder& encoder,
                           registry::ModelRegistry& registry);

// The avatar of a configured model, loading it if needed.
Result<ClipModel> acquire_clip_model(registry::ModelRegistry& registry,
                                     const std::string& model_id);

// The avatar frame of output frame i of a clip: the sequence at position start_frame + i.
std::int64_t sequenced_source_frame(const ClipSpec& spec, const ClipModel& model, std::int64_t i);

// The scheduler request for frames of a live session, from their audio tensors as the
// streaming extractor emitted them (consecutive indices).
RenderRequest session_request(const ClipSpec& spec, const ClipModel& model,
                              std::span<const audio::FrameTensor> frames);

// The scheduler request for output frames [first, first + count) of a plan.
RenderRequest batch_request(const ClipPlan& plan, std::int64_t first, std::int64_t count);

}  // namespace lipsync::pipeline
