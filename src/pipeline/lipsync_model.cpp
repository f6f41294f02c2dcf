#include "pipeline/lipsync_model.h"

#include <array>
#include <chrono>
#include <filesystem>
#include <system_error>

#include "audio/audio_features.h"
#include "core/clock.h"
#include "core/log.h"

namespace lipsync::pipeline {

std::vector<runtime::TensorSpec> unet_inputs(const imaging::ModelGeometry& g) {
  const int64_t roi = g.roi_size_px;
  const auto& audio = audio::kFrameTensorShape;
  // ref: pipeline.md §3 (audio [B, 32, 16, 16]) and §5 (input [B, 6, 320, 320]).
  return {{"input", {-1, g.input_channels, roi, roi}},
          {"audio", {-1, audio[0], audio[1], audio[2]}}};
}

std::vector<runtime::TensorSpec> unet_outputs(const imaging::ModelGeometry& g) {
  const int64_t roi = g.roi_size_px;
  return {{"output", {-1, g.output_channels, roi, roi}}};  // ref: pipeline.md §6
}

LipSyncModel::LipSyncModel(std::shared_ptr<const avatar::Avatar> avatar,
                           std::unique_ptr<runtime::Session> unet, std::int64_t unet_file_bytes,
                           int padded_batch_frames)
    : avatar_(std::move(avatar)),
      unet_(std::move(unet)),
      unet_file_bytes_(unet_file_bytes),
      padded_batch_frames_(padded_batch_frames) {}

std::int64_t LipSyncModel::fixed_batch_frames() const {
  return std::max<std::int64_t>(0, unet_->inputs()[0].shape[0]);
}

Result<double> LipSyncModel::warm_up() const {
  const auto start = std::chrono::steady_clock::now();
  const auto frames = static_cast<std::size_t>(
      fixed_batch_frames() > 0 ? fixed_batch_frames() : std::max(1, padded_batch_frames_));
  const std::size_t image_size = avatar_->geometry().input_tensor_elements();
  std::vector<float> images(frames * image_size);
  for (std::size_t k = 0; k < frames; ++k) {
    RETURN_IF_ERROR(
        avatar_->fill_input_tensor(0, std::span(images).subspan(k * image_size, image_size)));
  }
  const std::vector<float> audio(frames * audio::kFrameTensorSize, 0.0f);
  const std::array<std::span<const float>, 2> inputs{images, audio};
  ASSIGN_OR_RETURN(auto outputs, unet_->run(inputs, static_cast<int64_t>(frames)));
  return ms_since(start);
}

std::int64_t LipSyncModel::memory_bytes() const {
  return static_cast<std::int64_t>(avatar_->info().memory_bytes()) + unet_file_bytes_;
}

Result<std::shared_ptr<LipSyncModel>> LipSyncModel::load(const ModelConfig& config,
                                                         const LoadOptions& options) {
  const auto& session_options = options.session;
  const auto& avatar_options = options.avatar;
  const auto& geometry = avatar_options.geometry;
  ASSIGN_OR_RETURN(
      auto unet, runtime::Session::create(config.model_path, session_options, unet_inputs(geometry),
                                          unet_outputs(geometry)));
  avatar::AvatarSource source;
  source.frames_dir = config.background_dir;
  source.video_path = config.source_video;
  source.rects_path = config.crop_rects_path;
  source.max_frames = config.num_frames;
  ASSIGN_OR_RETURN(auto avatar, avatar::Avatar::load(source, avatar_options));
  std::error_code ec;
  const auto file_bytes = std::filesystem::file_size(config.model_path, ec);
  const bool cuda = unet->provider() == ExecutionProvider::kCuda;
  const std::int64_t fixed = std::max<std::int64_t>(0, unet->inputs()[0].shape[0]);
  if (fixed > 0) {
    LOG_INFO("pipeline",
             "model '{}': the UNet '{}' has a fixed batch of {}: batches run in chunks of {} "
             "frames (export with a dynamic batch axis to run a batch at once)",
             config.model_id, config.model_path.string(), fixed, fixed);
  }
  // A fixed-batch UNet runs one shape only: no padding needed for CUDA's sake.
  auto model = std::make_shared<LipSyncModel>(std::move(avatar), std::move(unet),
                                              ec ? 0 : static_cast<std::int64_t>(file_bytes),
                                              cuda && fixed == 0 ? options.cuda_batch_frames : 0);
  if (cuda) {
    ASSIGN_OR_RETURN(double warm_ms, model->warm_up());
    LOG_INFO("pipeline", "model '{}': CUDA warm-up with {} frames took {:.0f} ms", config.model_id,
             fixed > 0 ? fixed : options.cuda_batch_frames, warm_ms);
  }
  return model;
}

registry::Loader lipsync_model_loader(LoadOptions options) {
  return [options](
             const ModelConfig& config,
             const registry::LoadTarget& target) -> Result<std::shared_ptr<registry::LoadedModel>> {
    LoadOptions placed = options;
    if (target.gpu_id >= 0) placed.session.device_id = target.gpu_id;  // the registry's choice
    ASSIGN_OR_RETURN(auto model, LipSyncModel::load(config, placed));
    return std::shared_ptr<registry::LoadedModel>(std::move(model));
  };
}

}  // namespace lipsync::pipeline
