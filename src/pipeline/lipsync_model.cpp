#include "pipeline/lipsync_model.h"

#include <filesystem>
#include <system_error>

#include "audio/audio_features.h"

namespace lipsync::pipeline {

std::vector<runtime::TensorSpec> unet_inputs(const imaging::ModelGeometry& g) {
  const int64_t roi = g.roi_size_px;
  // ref: pipeline.md §3 (audio [B, 32, 16, 16]) and §5 (input [B, 6, 320, 320]).
  return {{"input", {-1, g.input_channels, roi, roi}}, {"audio", {-1, 32, 16, 16}}};
}

std::vector<runtime::TensorSpec> unet_outputs(const imaging::ModelGeometry& g) {
  const int64_t roi = g.roi_size_px;
  return {{"output", {-1, g.output_channels, roi, roi}}};  // ref: pipeline.md §6
}

LipSyncModel::LipSyncModel(std::shared_ptr<const avatar::Avatar> avatar,
                           std::unique_ptr<runtime::Session> unet, std::int64_t unet_file_bytes)
    : avatar_(std::move(avatar)), unet_(std::move(unet)), unet_file_bytes_(unet_file_bytes) {}

std::int64_t LipSyncModel::memory_bytes() const {
  return static_cast<std::int64_t>(avatar_->info().memory_bytes()) + unet_file_bytes_;
}

Result<std::shared_ptr<LipSyncModel>> LipSyncModel::load(
    const ModelConfig& config, const runtime::SessionOptions& session_options,
    const avatar::AvatarOptions& avatar_options) {
  static_assert(audio::kFrameTensorSize == 32 * 16 * 16, "audio tensor is [32, 16, 16]");
  const auto& geometry = avatar_options.geometry;
  ASSIGN_OR_RETURN(
      auto unet, runtime::Session::create(config.model_path, session_options, unet_inputs(geometry),
                                          unet_outputs(geometry)));
  avatar::AvatarSource source;
  source.frames_dir = config.background_dir;
  source.video_path = config.source_video;
  source.rects_path = config.crop_rects_path;
  auto avatar = avatar::Avatar::load(source, avatar_options);
  if (!avatar.ok()) return avatar.status().with_context("model '" + config.model_id + "'");
  std::error_code ec;
  const auto file_bytes = std::filesystem::file_size(config.model_path, ec);
  return std::make_shared<LipSyncModel>(std::move(avatar).value(), std::move(unet),
                                        ec ? 0 : static_cast<std::int64_t>(file_bytes));
}

registry::Loader lipsync_model_loader(runtime::SessionOptions session_options,
                                      avatar::AvatarOptions avatar_options) {
  return [session_options, avatar_options](
             const ModelConfig& config) -> Result<std::shared_ptr<registry::LoadedModel>> {
    ASSIGN_OR_RETURN(auto model, LipSyncModel::load(config, session_options, avatar_options));
    return std::shared_ptr<registry::LoadedModel>(std::move(model));
  };
}

}  // namespace lipsync::pipeline
