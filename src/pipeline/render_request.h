// One request for rendered frames of a model, and its answer: what the Scheduler takes and the
// device executors answer.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/image.h"
#include "core/timeline.h"
#include "imaging/face_crop.h"
#include "media/jpeg_codec.h"
#include "pipeline/frame_job.h"

namespace lipsync::pipeline {

using ExecutorClock = std::chrono::steady_clock;
using TimePoint = ExecutorClock::time_point;

// One video frame at 25 fps (pipeline.md §2): a live frame is due this long after its audio.
inline constexpr std::chrono::milliseconds kFramePeriod{timeline::kFrameIntervalMs};

// Shared by a caller and the work it submitted. Once set (through Scheduler::cancel or
// DeviceExecutor::cancel), queued frames and windows carrying it never run.
class CancelFlag {
 public:
  void set() { set_.store(true, std::memory_order_release); }
  bool is_set() const { return set_.load(std::memory_order_acquire); }

 private:
  std::atomic<bool> set_{false};
};

struct RenderRequest {
  std::string model_id;
  std::vector<std::int64_t> source_frames;  // avatar frame of each output frame
  std::vector<float> audio;                 // [frames, 32, 16, 16]
  std::vector<float> image_tensors;         // empty (from the avatar) or [frames, 6, roi, roi]
  // Take source_frames modulo the avatar's frame count (negative ones too): the compat API's
  // start_frame_idx wraps, and the count is known only once the model is loaded.
  bool wrap_source_frames = false;
  // Set: frames come back as JPEGs with these settings (RenderResult::jpegs), spliced into the
  // stored backgrounds when the avatar's store allows (Avatar::render_jpeg).
  std::optional<media::JpegSettings> jpeg;
  // How faces are pasted; only requests with equal options share a batch.
  imaging::CompositeOptions composite;
  // When each frame is due (the Scheduler's rules); empty: by arrival order.
  std::vector<TimePoint> deadlines;
  std::shared_ptr<CancelFlag> cancel;  // may be null

  int frames() const { return static_cast<int>(source_frames.size()); }
};

struct RenderResult {
  std::vector<Image> frames;  // full BGR frames, in request order (empty when jpeg was set)
  // Summed over the UNet batches that carried the request's frames (one batch for a request
  // of up to max_batch frames that arrived alone).
  BatchTimings timings;
  int batch_frames = 0;       // frames in the largest batch that carried it (≥ its share)
  double queue_ms = 0;        // from submit to the forming of its first batch
  bool model_loaded = false;  // acquiring the model for it loaded the model
  double model_load_ms = 0;
  // The frames as JPEGs, in request order, when the request set `jpeg`.
  std::vector<std::vector<std::uint8_t>> jpegs;
};

}  // namespace lipsync::pipeline
