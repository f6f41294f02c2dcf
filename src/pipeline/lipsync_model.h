// One servable lip-sync model: a person's avatar (frames, rects, face crops, backgrounds) and
// their UNet session. This is what the registry loads, evicts and hands out.
//
//   auto loader = lipsync_model_loader(session_options, avatar_options);
//   ModelRegistry registry(config.capacity, loader);
#pragma once

#include <memory>

#include "avatar/avatar.h"
#include "core/config.h"
#include "core/status.h"
#include "registry/model_registry.h"
#include "runtime/session.h"

namespace lipsync::pipeline {

struct LoadOptions {
  runtime::SessionOptions session;
  avatar::AvatarOptions avatar;
  // On CUDA the first run of each batch shape costs seconds, so smaller batches are padded to
  // this many frames and one batch is run at load (warm-up). Ignored on the CPU.
  int cuda_batch_frames = 25;
};

class LipSyncModel : public registry::LoadedModel {
 public:
  // Loads the avatar (config.background_dir / source_video / crop_rects_path) and the UNet
  // (config.model_path), checking the UNet's I/O against the avatar's model geometry.
  static Result<std::shared_ptr<LipSyncModel>> load(const ModelConfig& config,
                                                    const LoadOptions& options);

  LipSyncModel(std::shared_ptr<const avatar::Avatar> avatar, std::unique_ptr<runtime::Session> unet,
               std::int64_t unet_file_bytes, int padded_batch_frames = 0);

  const avatar::Avatar& avatar() const { return *avatar_; }
  runtime::Session& unet() const { return *unet_; }
  // Batches with fewer frames run padded to this size (0: no padding).
  int padded_batch_frames() const { return padded_batch_frames_; }
  // The UNet's fixed batch dimension (an export without a dynamic batch axis): batches run in
  // chunks of exactly this many frames, the last one padded. 0: dynamic.
  std::int64_t fixed_batch_frames() const;
  // Runs one batch of padded_batch_frames() (or fixed_batch_frames()) frames so that the first
  // request does not pay the runtime's set-up; returns its duration in milliseconds.
  Result<double> warm_up() const;
  // Host memory: the avatar's caches plus the UNet weights (its file size).
  std::int64_t memory_bytes() const override;

 private:
  std::shared_ptr<const avatar::Avatar> avatar_;
  std::unique_ptr<runtime::Session> unet_;
  std::int64_t unet_file_bytes_;
  int padded_batch_frames_;
};

// The UNet I/O contract (pipeline.md §5-6) for a model geometry.
std::vector<runtime::TensorSpec> unet_inputs(const imaging::ModelGeometry& geometry);
std::vector<runtime::TensorSpec> unet_outputs(const imaging::ModelGeometry& geometry);

// A registry loader that builds LipSyncModels, the UNet on the CUDA device the registry chose
// for the load (LoadTarget) and the avatar limited to config.num_frames.
registry::Loader lipsync_model_loader(LoadOptions options);

}  // namespace lipsync::pipeline
