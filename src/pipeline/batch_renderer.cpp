#include "pipeline/batch_renderer.h"

#include <array>
#include <chrono>
#include <functional>

#include "audio/audio_features.h"
#include "core/clock.h"

namespace lipsync::pipeline {
namespace {

using Clock = std::chrono::steady_clock;

Status check_jobs(const avatar::Avatar& avatar, std::span<const FrameJob> jobs,
                  const BatchOptions& options) {
  if (jobs.empty())
    return make_error(ErrorCode::kInvalidArgument, "a batch needs at least one frame");
  for (std::size_t k = 0; k < jobs.size(); ++k) {
    const auto& job = jobs[k];
    if (job.source_frame < 0 ||
        static_cast<std::size_t>(job.source_frame) >= avatar.frame_count()) {
      return make_error(ErrorCode::kInvalidArgument, "frame {}: source frame {} outside [0, {})", k,
                        job.source_frame, avatar.frame_count());
    }
    const std::size_t image_size = avatar.geometry().input_tensor_elements();
    if (!job.image.empty() && job.image.size() != image_size) {
      return make_error(ErrorCode::kInvalidArgument,
                        "frame {}: image tensor has {} floats, expected {} ([{}, {}, {}])", k,
                        job.image.size(), image_size, avatar.geometry().input_channels,
                        avatar.geometry().roi_size_px, avatar.geometry().roi_size_px);
    }
    if (job.audio.size() != audio::kFrameTensorSize) {
      return make_error(ErrorCode::kInvalidArgument,
                        "frame {}: audio tensor has {} floats, expected {}", k, job.audio.size(),
                        audio::kFrameTensorSize);
    }
  }
  const std::size_t per_frame = avatar.geometry().input_tensor_elements();
  if (!options.image_tensors.empty() && options.image_tensors.size() != jobs.size() * per_frame) {
    return make_error(ErrorCode::kInvalidArgument,
                      "visual frames hold {} floats, expected {} for {} frames of [{}, {}, {}]",
                      options.image_tensors.size(), jobs.size() * per_frame, jobs.size(),
                      avatar.geometry().input_channels, avatar.geometry().roi_size_px,
                      avatar.geometry().roi_size_px);
  }
  return {};
}

// Calls fn(k) for every frame, on the pool when there is one; returns the first error.
Status for_each_frame(std::size_t count, ThreadPool* pool,
                      const std::function<Status(std::size_t)>& fn) {
  std::vector<Status> statuses(count);
  auto run = [&](std::size_t k) { statuses[k] = fn(k); };
  if (pool != nullptr) {
    pool->parallel_for(count, run);
  } else {
    for (std::size_t k = 0; k < count; ++k) run(k);
  }
  for (auto& status : statuses) RETURN_IF_ERROR(status);
  return {};
}

// A per-thread scratch buffer of `n` floats (one frame's tensor), reused across batches.
std::span<float> scratch(std::size_t n) {
  thread_local std::vector<float> buffer;
  if (buffer.size() < n) buffer.resize(n);
  return std::span(buffer).first(n);
}

}  // namespace

Result<RenderedBatch> render_batch(const LipSyncModel& model, std::span<const FrameJob> jobs,
                                   const BatchOptions& options, ThreadPool* pool) {
  ASSIGN_OR_RETURN(PreparedBatch batch, prepare_batch(model, jobs, options, pool));
  RETURN_IF_ERROR(infer_batch(model, batch));
  return finish_batch(model, batch, options.composite, pool);
}

Result<PreparedBatch> prepare_batch(const LipSyncModel& model, std::span<const FrameJob> jobs,
                                    const BatchOptions& options, ThreadPool* pool) {
  const avatar::Avatar& avatar = model.avatar();
  RETURN_IF_ERROR(check_jobs(avatar, jobs, options));
  const auto start = Clock::now();
  const std::size_t image_size = avatar.geometry().input_tensor_elements();
  const std::size_t count = jobs.size();
  // Padded slots repeat the last frame; their outputs are not composited.
  const auto fixed = static_cast<std::size_t>(model.fixed_batch_frames());
  const std::size_t slots =
      fixed > 0 ? (count + fixed - 1) / fixed * fixed
                : std::max(count, static_cast<std::size_t>(std::max(0, options.slots)));
  PreparedBatch batch;
  batch.jobs.assign(jobs.begin(), jobs.end());
  batch.chunk_frames = fixed > 0 ? fixed : slots;
  for (std::size_t first = 0; first < slots; first += batch.chunk_frames) {
    ASSIGN_OR_RETURN(auto run, model.unet().new_batch(static_cast<int64_t>(batch.chunk_frames)));
    batch.unet.push_back(std::move(run));
  }
  for (std::size_t k = 0; k < count; ++k) {
    if (!options.image_tensors.empty())
      batch.jobs[k].image = options.image_tensors.subspan(k * image_size, image_size);
  }
  RETURN_IF_ERROR(for_each_frame(slots, pool, [&](std::size_t slot) -> Status {
    const FrameJob& job = batch.jobs[std::min(slot, count - 1)];
    std::span<const float> image = job.image;
    if (image.empty()) {
      const auto filled = scratch(image_size);
      RETURN_IF_ERROR(avatar.fill_input_tensor(static_cast<std::size_t>(job.source_frame), filled));
      image = filled;
    }
    auto& run = batch.unet[slot / batch.chunk_frames];
    const std::size_t k = slot % batch.chunk_frames;
    RETURN_IF_ERROR(run.write_input(0, k * image_size, image));
    return run.write_input(1, k * audio::kFrameTensorSize, job.audio);
  }));
  for (auto& run : batch.unet) {
    RETURN_IF_ERROR(model.unet().upload(run));  // while the device runs another batch
  }
  batch.timings.prepare_ms = ms_since(start);
  return batch;
}

Status infer_batch(const LipSyncModel& model, PreparedBatch& batch) {
  const auto start = Clock::now();
  for (auto& run : batch.unet) RETURN_IF_ERROR(model.unet().execute(run));
  batch.timings.inference_ms = ms_since(start);
  return {};
}

Result<RenderedBatch> finish_batch(const LipSyncModel& model, const PreparedBatch& batch,
                                   const imaging::CompositeOptions& composite, ThreadPool* pool) {
  const avatar::Avatar& avatar = model.avatar();
  const auto start = Clock::now();
  const std::size_t output_size = avatar.geometry().output_tensor_elements();
  const std::size_t count = batch.jobs.size();
  RenderedBatch result;
  result.timings = batch.timings;
  result.frames.resize(count);
  result.jpegs.resize(count);
  RETURN_IF_ERROR(for_each_frame(count, pool, [&](std::size_t k) -> Status {
    const FrameJob& job = batch.jobs[k];
    const auto index = static_cast<std::size_t>(job.source_frame);
    const auto face = scratch(output_size);
    const auto& run = batch.unet[k / batch.chunk_frames];
    RETURN_IF_ERROR(run.read_output(0, k % batch.chunk_frames * output_size, face));
    if (job.jpeg) {
      ASSIGN_OR_RETURN(
          result.jpegs[k],
          avatar.render_jpeg(index, face, {.settings = *job.jpeg, .composite = composite}));
    } else {
      ASSIGN_OR_RETURN(result.frames[k], avatar.render_frame(index, face, composite));
    }
    return {};
  }));
  result.timings.composite_ms = ms_since(start);
  return result;
}

}  // namespace lipsync::pipeline
