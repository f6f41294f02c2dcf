// A native-API clip on the server's pipeline: 16 kHz samples -> the audio features of the
// offline pipeline (render_clip's exact steps, pipeline.md §1-3) -> output frames sequenced over
// the avatar (pipeline.md §7) and rendered through the Scheduler in batches of up to max_batch
// frames, with a bounded number of batches in flight so that a long clip cannot flood the
// model's queue and other requests' frames can join its batches. Module-internal.
//
//   ASSIGN_OR_RETURN(ClipPlan plan, plan_clip(spec, samples, mel, encoder, registry));
//   BatchWindow window(scheduler, plan, config.pipeline.max_batch);
//   while (!window.done()) { ASSIGN_OR_RETURN(ClipBatch batch, window.next()); ... }
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "audio/audio_features.h"
#include "audio/mel_spectrogram.h"
#include "audio/streaming_extractor.h"
#include "imaging/frame_sequence.h"
#include "media/jpeg_codec.h"
#include "pipeline/scheduler.h"
#include "registry/model_registry.h"

namespace lipsync::server {

// Longest audio one native request may carry: 30 min = 45 000 frames.
inline constexpr double kMaxNativeAudioSeconds = 1800.0;
// start_frame beyond this (~463 days at 25 fps) is refused as a client bug.
inline constexpr std::int64_t kMaxStartFrame = 1'000'000'000;
// Batches of one clip queued or running at once.
inline constexpr int kBatchesInFlight = 3;
// 25 fps. ref: pipeline.md §2 (640 samples per video frame at 16 kHz).
inline constexpr std::int64_t kFrameIntervalMs = 40;

struct ClipSpec {
  std::string model_id;
  imaging::SequenceMode sequence = imaging::SequenceMode::kPingPong;
  std::int64_t start_frame = 0;             // sequence position of output frame 0
  std::optional<media::JpegSettings> jpeg;  // unset: raw BGR frames
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

// INVALID_ARGUMENT unless 0 <= start_frame <= kMaxStartFrame.
Status check_start_frame(std::int64_t start_frame);

// A configured model's load failure as the native API reports it: FAILED_PRECONDITION (a
// server-side problem, not an unknown model nor a bad request) unless it is RESOURCE_EXHAUSTED
// or UNAVAILABLE.
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

// One finished batch: output frames [first, first + count()).
struct ClipBatch {
  std::int64_t first = 0;
  std::vector<std::int64_t> source_frames;
  pipeline::RenderResult result;

  std::size_t count() const { return source_frames.size(); }
  // Frame k's bytes: its JPEG, or its BGR pixels (rows of width·3 bytes).
  std::span<const std::uint8_t> frame_bytes(std::size_t k) const;
};

// The avatar frame of output frame i of a clip: the sequence at position start_frame + i.
std::int64_t sequenced_source_frame(const ClipSpec& spec, const ClipModel& model, std::int64_t i);

// The scheduler request for frames of a live session, from their audio tensors as the
// streaming extractor emitted them (consecutive indices).
pipeline::RenderRequest session_request(const ClipSpec& spec, const ClipModel& model,
                                        std::span<const audio::FrameTensor> frames);

// The scheduler request for output frames [first, first + count) of a plan.
pipeline::RenderRequest batch_request(const ClipPlan& plan, std::int64_t first, std::int64_t count);

// Submits a clip's batches of up to pipeline.max_batch frames, at most
// min(kBatchesInFlight, pipeline.max_queue_depth) at once, and hands them back in order, so
// that the model's pipeline has the clip's next batch while it runs one.
// Admission: a batch the model's full queue refuses at once is retried after the clip's oldest
// pending batch finishes; with none of the clip's batches pending, the refusal
// (RESOURCE_EXHAUSTED) is the answer. A started clip thus yields to others instead of failing.
class BatchWindow {
 public:
  // The scheduler request for frames [first, first + count) of the clip.
  using RequestFor = std::function<pipeline::RenderRequest(std::int64_t first, std::int64_t count)>;

  // `plan` must outlive the window.
  BatchWindow(pipeline::Scheduler& scheduler, const ClipPlan& plan,
              const PipelineSection& pipeline);
  // Batches of `max_batch` frames, `in_flight` at once.
  BatchWindow(pipeline::Scheduler& scheduler, const ClipPlan& plan, int max_batch,
              int in_flight = kBatchesInFlight);
  // Any `frame_count` frames, their requests made by `request_for` (a live session's ready
  // frames). ClipBatch::first counts from 0.
  BatchWindow(pipeline::Scheduler& scheduler, std::int64_t frame_count, RequestFor request_for,
              const PipelineSection& pipeline);

  bool done() const { return pending_.empty() && next_first_ >= frame_count_; }
  // Tops the window up, then waits for the oldest batch. Stop calling it (e.g. on cancellation)
  // and nothing more is submitted; batches in flight still run.
  Result<ClipBatch> next();

 private:
  void top_up();

  struct Pending {
    std::int64_t first = 0;
    std::vector<std::int64_t> source_frames;
    std::future<Result<pipeline::RenderResult>> result;
  };

  pipeline::Scheduler& scheduler_;
  const std::int64_t frame_count_;
  const RequestFor request_for_;
  const std::int64_t max_batch_;
  const std::size_t in_flight_;
  std::int64_t next_first_ = 0;
  std::deque<Pending> pending_;
};

}  // namespace lipsync::server
