// What a device executor needs of one model placed on its device: the three steps of a UNet
// batch and the facts that a request's frames are checked against. LipSyncModel is one; the
// executor's tests plug in fakes whose steps wait on gates.
//
//   ASSIGN_OR_RETURN(auto batch, runner.prepare(jobs, slots, pool));  // any thread
//   RETURN_IF_ERROR(runner.execute(*batch));                          // the device's thread
//   ASSIGN_OR_RETURN(RenderedBatch frames, runner.finish(*batch, composite, pool));
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "core/status.h"
#include "core/thread_pool.h"
#include "imaging/face_crop.h"
#include "pipeline/frame_job.h"

namespace lipsync::pipeline {

class ModelRunner {
 public:
  // A batch between its steps; each runner defines what it holds.
  class Batch {
   public:
    virtual ~Batch() = default;
  };

  virtual ~ModelRunner() = default;

  // Avatar frames: a job's source_frame lies in [0, frame_count()).
  virtual std::int64_t frame_count() const = 0;
  // Floats of one client-sent image tensor [6, roi, roi].
  virtual std::size_t image_tensor_elements() const = 0;

  // Writes the inputs of `jobs` into a batch of `slots` ≥ jobs.size() frames; the extra slots
  // repeat the last job and their outputs are dropped (a batch runs at one of a few warmed
  // sizes). Runs off the device's thread; `pool` (may be null) parallelises it.
  virtual Result<std::unique_ptr<Batch>> prepare(std::span<const FrameJob> jobs, int slots,
                                                 ThreadPool* pool) = 0;
  // The run: the only step that uses the device. Called on the executor's device thread only,
  // so a runner needs no lock around its runtime state.
  virtual Status execute(Batch& batch) = 0;
  // The jobs' frames (not the padded slots'), in job order, their faces pasted as `composite`
  // says (every job of a batch pastes alike). Off the device's thread.
  virtual Result<RenderedBatch> finish(Batch& batch, const imaging::CompositeOptions& composite,
                                       ThreadPool* pool) = 0;
};

}  // namespace lipsync::pipeline
