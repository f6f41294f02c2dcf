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
#include "pipeline/frame_job.h"
#include "pipeline/lipsync_model.h"

namespace lipsync::pipeline {

struct BatchOptions {
  imaging::CompositeOptions composite;
  // Client-sent image tensors [B, 6, roi, roi] (the compat API's visual_frames); empty: built
  // from the avatar's cached crops.
  std::span<const float> image_tensors;
  // The size the UNet batch runs at (≥ the jobs; the extra slots repeat the last job and are
  // not composited: a device executor runs batches at a few warmed sizes); 0: the jobs' count.
  // A fixed-batch UNet runs chunks of its size regardless.
  int slots = 0;
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
