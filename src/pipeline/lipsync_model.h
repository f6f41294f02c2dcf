// One servable lip-sync model: a person's avatar (frames, rects, face crops, backgrounds) and
// their UNet session. This is what the registry loads, evicts and hands out, and what a device
// executor runs batches of (ModelRunner).
//
//   auto loader = lipsync_model_loader(session_options, avatar_options);
//   ModelRegistry registry(config.capacity, loader);
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "avatar/avatar.h"
#include "core/config.h"
#include "core/status.h"
#include "pipeline/model_runner.h"
#include "registry/model_registry.h"
#include "runtime/session.h"

namespace lipsync::pipeline {

class LipSyncModel;

struct LoadOptions {
  runtime::SessionOptions session;
  avatar::AvatarOptions avatar;
  // The sizes its device's executor runs batches at (executor_options()). On CUDA the first run
  // of each batch shape costs seconds (cuDNN's algorithm choice), so a model loaded for CUDA runs
  // one batch of each size at load. On the CPU, where a new shape costs nothing, it runs one
  // batch of the largest: its arena then holds what the model's runs need, and memory_bytes()
  // counts it from the load on. Empty: no warm-up.
  // The warm-up runs on the loading thread, not on the device's executor: each size has an ORT
  // session of its own (runtime::SessionOptions::batch_sessions) that no executor runs yet, so
  // the sessions already serving on that device go on while a new model compiles its kernels
  // (on an H100 that took 81 s for six sizes with the executor stalled, 0429ca7).
  std::vector<int> warm_up_batch_sizes;
  // CUDA: after the warm-up, whose arena shrinking hands back cuDNN's search workspaces, a
  // second pass of every size takes back what its runs need (`onnx.cuda_reserve_run_memory`).
  // Without it the first served run of each size allocates device memory: on an H100 a fresh
  // server's first batch took 47-50 instead of 10-16 ms at 56 live sessions (docs/gpu.md).
  bool reserve_run_memory = true;
};

class LipSyncModel : public registry::LoadedModel, public ModelRunner {
 public:
  // Loads the avatar (config.background_dir / source_video / crop_rects_path) and the UNet
  // (config.model_path), checking the UNet's I/O against the avatar's model geometry.
  static Result<std::shared_ptr<LipSyncModel>> load(const ModelConfig& config,
                                                    const LoadOptions& options);

  LipSyncModel(std::shared_ptr<const avatar::Avatar> avatar, std::unique_ptr<runtime::Session> unet,
               std::int64_t unet_file_bytes);

  const avatar::Avatar& avatar() const { return *avatar_; }
  runtime::Session& unet() const { return *unet_; }
  // The UNet's fixed batch dimension (an export without a dynamic batch axis): batches run in
  // chunks of exactly this many frames, the last one padded. 0: dynamic.
  std::int64_t fixed_batch_frames() const;
  // Runs one batch of each size (for a fixed-batch UNet: its one size) so that the first request
  // of that shape does not pay the runtime's set-up; returns the milliseconds it took. Call it
  // where the device's runs happen.
  Result<double> warm_up(std::span<const int> batch_sizes) const;
  // Host memory: the avatar's caches, the UNet weights (its file size) and, on the CPU, the
  // UNet session's arena (its runs' activations: runtime::Session::working_memory_bytes()).
  std::int64_t memory_bytes() const override;

  // ModelRunner: batches through prepare_batch / infer_batch / finish_batch.
  std::int64_t frame_count() const override;
  std::size_t image_tensor_elements() const override;
  Result<std::unique_ptr<Batch>> prepare(std::span<const FrameJob> jobs, int slots,
                                         ThreadPool* pool) override;
  Status execute(Batch& batch) override;
  Result<RenderedBatch> finish(Batch& batch, const imaging::CompositeOptions& composite,
                               ThreadPool* pool) override;

 private:
  std::shared_ptr<const avatar::Avatar> avatar_;
  std::unique_ptr<runtime::Session> unet_;
  std::int64_t unet_file_bytes_;
};

// The UNet I/O contract (pipeline.md §5-6) for a model geometry.
std::vector<runtime::TensorSpec> unet_inputs(const imaging::ModelGeometry& geometry);
std::vector<runtime::TensorSpec> unet_outputs(const imaging::ModelGeometry& geometry);

// A registry loader that builds LipSyncModels, the UNet on the CUDA device the registry chose
// for the load (LoadTarget) and the avatar limited to config.num_frames; on CUDA it warms the
// model up on the loading thread.
registry::Loader lipsync_model_loader(LoadOptions options);

}  // namespace lipsync::pipeline
