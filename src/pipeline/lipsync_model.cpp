#include "pipeline/lipsync_model.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <system_error>

#include "audio/audio_features.h"
#include "core/clock.h"
#include "core/log.h"
#include "pipeline/batch_renderer.h"

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
                           std::unique_ptr<runtime::Session> unet, std::int64_t unet_file_bytes)
    : avatar_(std::move(avatar)), unet_(std::move(unet)), unet_file_bytes_(unet_file_bytes) {}

std::int64_t LipSyncModel::fixed_batch_frames() const {
  return std::max<std::int64_t>(0, unet_->inputs()[0].shape[0]);
}

namespace {

// A prepared batch between a device executor's steps.
struct RunnerBatch : ModelRunner::Batch {
  PreparedBatch batch;
};

}  // namespace

Result<double> LipSyncModel::warm_up(std::span<const int> batch_sizes) const {
  const auto start = std::chrono::steady_clock::now();
  const std::vector<float> silence(audio::kFrameTensorSize, 0.0f);
  const std::vector<FrameJob> job{{.source_frame = 0, .audio = silence}};
  const std::vector<int> fixed{static_cast<int>(fixed_batch_frames())};
  for (int size : fixed.front() > 0 ? std::span<const int>(fixed) : batch_sizes) {
    ASSIGN_OR_RETURN(PreparedBatch batch,
                     prepare_batch(*this, job, {.slots = std::max(1, size)}, nullptr));
    RETURN_IF_ERROR(infer_batch(*this, batch));
  }
  return ms_since(start);
}

std::int64_t LipSyncModel::frame_count() const {
  return static_cast<std::int64_t>(avatar_->frame_count());
}

std::size_t LipSyncModel::image_tensor_elements() const {
  return avatar_->geometry().input_tensor_elements();
}

Result<std::unique_ptr<ModelRunner::Batch>> LipSyncModel::prepare(std::span<const FrameJob> jobs,
                                                                  int slots, ThreadPool* pool) {
  auto prepared = std::make_unique<RunnerBatch>();
  ASSIGN_OR_RETURN(prepared->batch, prepare_batch(*this, jobs, {.slots = slots}, pool));
  return std::unique_ptr<Batch>(std::move(prepared));
}

Status LipSyncModel::execute(Batch& batch) {
  return infer_batch(*this, static_cast<RunnerBatch&>(batch).batch);
}

Result<RenderedBatch> LipSyncModel::finish(Batch& batch, const imaging::CompositeOptions& composite,
                                           ThreadPool* pool) {
  return finish_batch(*this, static_cast<RunnerBatch&>(batch).batch, composite, pool);
}

std::int64_t LipSyncModel::memory_bytes() const {
  return static_cast<std::int64_t>(avatar_->info().memory_bytes()) + unet_file_bytes_ +
         unet_->working_memory_bytes();
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
  source.accept_any_fps = config.accept_any_fps;
  source.accept_rects_outside_frame = config.accept_rects_outside_frame;
  ASSIGN_OR_RETURN(auto avatar, avatar::Avatar::load(source, avatar_options));
  std::error_code ec;
  const auto file_bytes = std::filesystem::file_size(config.model_path, ec);
  const std::int64_t fixed = std::max<std::int64_t>(0, unet->inputs()[0].shape[0]);
  if (fixed > 0) {
    LOG_INFO("pipeline",
             "model '{}': the UNet '{}' has a fixed batch of {}: batches run in chunks of {} "
             "frames (export with a dynamic batch axis to run a batch at once)",
             config.model_id, config.model_path.string(), fixed, fixed);
  }
  return std::make_shared<LipSyncModel>(std::move(avatar), std::move(unet),
                                        ec ? 0 : static_cast<std::int64_t>(file_bytes));
}

registry::Loader lipsync_model_loader(LoadOptions options) {
  return [options](
             const ModelConfig& config,
             const registry::LoadTarget& target) -> Result<std::shared_ptr<registry::LoadedModel>> {
    LoadOptions placed = options;
    if (target.gpu_id >= 0) placed.session.device_id = target.gpu_id;  // the registry's choice
    // On CUDA each batch size below the largest runs on an ORT session of its own: one session
    // alternating shapes rebuilds its fused convolutions' plans at every change
    // (runtime::SessionOptions::batch_sessions). The largest runs on the model's first session.
    if (placed.session.provider == ExecutionProvider::kCuda &&
        options.warm_up_batch_sizes.size() > 1) {
      const int largest = std::ranges::max(options.warm_up_batch_sizes);
      for (int size : options.warm_up_batch_sizes) {
        if (size != largest) placed.session.batch_sessions.push_back(size);
      }
    }
    ASSIGN_OR_RETURN(auto model, LipSyncModel::load(config, placed));
    if (model->unet().provider() == ExecutionProvider::kCuda) {
      const auto start = std::chrono::steady_clock::now();
      // The warm-up's cuDNN searches take workspaces its runs never need again: each warm-up
      // run hands what its session's arena holds unused back to the device. Also for a model on
      // sessions shared with others (runtime::SessionOptions::share_architecture), whose runs
      // find the plans built: on an H100 the second model's warm-up without shrinking left the
      // shared arenas 6.4 GB larger, what runs of every size grow them to (docs/gpu.md); the
      // second pass below takes back what runs need (LoadOptions::reserve_run_memory).
      model->unet().set_arena_shrinking(true);
      auto warmed = model->warm_up(options.warm_up_batch_sizes);
      model->unet().set_arena_shrinking(false);
      const bool shrunk = warmed.ok();
      if (!shrunk) {
        LOG_WARN("pipeline", "model '{}': warm-up with arena shrinking failed ({}); again without",
                 config.model_id, warmed.status().to_string());
        warmed = model->warm_up(options.warm_up_batch_sizes);
      }
      RETURN_IF_ERROR(warmed.status());
      // The shrinking left each size's arena without what its runs need (their activations):
      // a second pass, without shrinking and with every algorithm chosen, takes that back now,
      // so that a served batch does not wait for device memory. On sessions shared with an
      // earlier model the two passes shrink the shared arenas and grow them back: on an H100 a
      // later model took 1.41 instead of 1.29 s to load and the same +25 MiB (docs/gpu.md).
      // The retry without shrinking already left the arenas as runs grow them.
      std::string reserved = shrunk ? "the runs' memory not reserved" : "the arenas not shrunk";
      if (options.reserve_run_memory && shrunk) {
        const auto reserve_start = std::chrono::steady_clock::now();
        RETURN_IF_ERROR(model->warm_up(options.warm_up_batch_sizes).status());
        reserved =
            fmt::format("{:.0f} ms of it reserving the runs' memory", ms_since(reserve_start));
      }
      LOG_INFO("pipeline", "model '{}': CUDA warm-up of batch sizes [{}] took {:.0f} ms ({})",
               config.model_id, fmt::join(options.warm_up_batch_sizes, ", "), ms_since(start),
               reserved);
    } else if (!options.warm_up_batch_sizes.empty()) {
      // The CPU's arena grows to the largest batch now, so that the model's count holds it.
      const int largest = std::ranges::max(options.warm_up_batch_sizes);
      ASSIGN_OR_RETURN(const double warm_ms, model->warm_up(std::span<const int>(&largest, 1)));
      LOG_INFO("pipeline", "model '{}': a batch of {} at load took {:.0f} ms, its arena {:.0f} MB",
               config.model_id, largest, warm_ms, model->unet().working_memory_bytes() / 1e6);
    }
    return std::shared_ptr<registry::LoadedModel>(std::move(model));
  };
}

}  // namespace lipsync::pipeline
