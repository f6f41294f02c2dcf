// One UNet batch: image tensors from the avatar's cached crops (or given by a client), audio
// tensors from the caller, ONE batched run, then compositing of every frame in parallel.
// Used by `lipsync render` and the server alike. The three steps are also separate functions
// so that the scheduler overlaps them across consecutive batches:
//
//   ASSIGN_OR_RETURN(PreparedBatch batch, prepare_batch(model, jobs, options, pool));
//   RETURN_IF_ERROR(infer_batch(model, batch));  // the only step that holds the device
//   ASSIGN_OR_RETURN(RenderedBatch frames, finish_batch(model, batch, composite, pool));
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "core/image.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "imaging/face_crop.h"
#include "pipeline/lipsync_model.h"

namespace lipsync::pipeline {

struct FrameJob {
  std::int64_t source_frame = 0;  // avatar frame (already sequenced, pipeline.md §7)
  std::span<const float> audio;   // [32, 16, 16] (pipeline.md §3)
  // A client-sent image tensor [6, roi, roi] (the compat API's visual frames); empty: built
  // from the avatar's cached crop.
  std::span<const float> image;
  // Set: the frame comes back as this JPEG (Avatar::render_jpeg: spliced into the stored
  // background when the store allows) instead of as BGR pixels.
  std::optional<media::JpegSettings> jpeg;
};

struct BatchTimings {
  double prepare_ms = 0;    // building the image and audio tensors
  double inference_ms = 0;  // the UNet run
  double composite_ms = 0;  // pasting the faces into full frames (and JPEG-encoding them)
};

struct RenderedBatch {
  std::vector<Image> frames;  // full BGR frames, in job order (empty for JPEG jobs)
  std::vector<std::vector<std::uint8_t>> jpegs;  // in job order (empty for BGR jobs)
  BatchTimings timings;
};

struct BatchOptions {
  imaging::CompositeOptions composite;
  // Client-sent image tensors [B, 6, roi, roi] (the compat API's visual_frames); empty: built
  // from the avatar's cached crops.
  std::span<const float> image_tensors;
};

// Runs jobs.size() frames (≥ 1) as one UNet batch. `pool` composites in parallel (may be null).
Result<RenderedBatch> render_batch(const LipSyncModel& model, std::span<const FrameJob> jobs,
                                   const BatchOptions& options, ThreadPool* pool);

// A batch between its steps. Its jobs' spans must stay valid until finish_batch().
struct PreparedBatch {
  std::vector<FrameJob> jobs;
  // The UNet's staged inputs (padded), then its outputs: one run, or for a fixed-batch UNet
  // one run per chunk of that many frames.
  std::vector<runtime::Session::Batch> unet;
  std::size_t chunk_frames = 0;  // frames per run
  BatchTimings timings;
};

// Checks the jobs and writes the UNet's inputs (in parallel on `pool`, may be null).
Result<PreparedBatch> prepare_batch(const LipSyncModel& model, std::span<const FrameJob> jobs,
                                    const BatchOptions& options, ThreadPool* pool);
// The UNet run(s).
Status infer_batch(const LipSyncModel& model, PreparedBatch& batch);
// Pastes each generated face into its frame (or splices it into its JPEG), in parallel.
Result<RenderedBatch> finish_batch(const LipSyncModel& model, const PreparedBatch& batch,
                                   const imaging::CompositeOptions& composite, ThreadPool* pool);

}  // namespace lipsync::pipeline
