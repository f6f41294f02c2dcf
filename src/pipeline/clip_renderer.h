// A whole clip offline: 16 kHz samples -> mel -> encoder features -> one output frame per F_pad
// row, rendered in UNet batches and handed to a sink in order (pipeline.md §1-§7).
//
//   ASSIGN_OR_RETURN(ClipStats stats,
//                    render_clip(model, encoder, samples, {}, [&](int64_t i, const Image& f) {
//                      return writer.write_frame(f.view()); }));
#pragma once

#include <cstdint>
#include <functional>
#include <span>

#include "audio/audio_features.h"
#include "core/image.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "imaging/frame_sequence.h"
#include "pipeline/batch_renderer.h"
#include "pipeline/lipsync_model.h"

namespace lipsync::pipeline {

struct ClipOptions {
  imaging::SequenceMode sequence = imaging::SequenceMode::kPingPong;  // the reference renderer's
  std::int64_t start_frame = 0;  // wrap mode: the source frame of output frame 0
  int max_batch = 25;            // frames per UNet run
  imaging::CompositeOptions composite;
};

struct ClipStats {
  std::int64_t frames = 0;
  double audio_ms = 0;  // mel + encoder + audio tensors
  BatchTimings totals;  // summed over batches
  double first_batch_inference_ms = 0;  // includes the runtime's warm-up (e.g. cuDNN search)
};

// Called once per output frame, in order; an error stops the render and is returned.
using FrameSink = std::function<Status(std::int64_t index, const Image& frame)>;
// Called after each batch with (frames done, frames in the clip).
using ProgressFn = std::function<void(std::int64_t done, std::int64_t total)>;

// Output frame count for a clip of `samples` 16 kHz samples (n + 2, pipeline.md §2); 0 when the
// clip is too short for one encoder window.
std::int64_t clip_frame_count(std::size_t samples);

Result<ClipStats> render_clip(const LipSyncModel& model, audio::FeatureEncoder& encoder,
                              std::span<const float> samples, const ClipOptions& options,
                              const FrameSink& sink, ThreadPool* pool,
                              const ProgressFn& progress = {});

}  // namespace lipsync::pipeline
