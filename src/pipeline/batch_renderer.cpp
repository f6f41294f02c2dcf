#include "pipeline/batch_renderer.h"

#include <array>
#include <chrono>
#include <functional>

#include "audio/audio_features.h"

namespace lipsync::pipeline {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

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
    if (job.audio.size() != audio::kFrameTensorSize) {
      return make_error(ErrorCode::kInvalidArgument,
                        "frame {}: audio tensor has {} floats, expected {}", k, job.audio.size(),
                        audio::kFrameTensorSize);
    }
  }
  const std::size_t per_frame = avatar.geometry().input_tensor_elements();
  if (!options.image_tensors.empty() && options.image_tensors.size() != jobs.size() * per_frame) {
    return make_error(ErrorCode::kInvalidArgument,
                      "visual frames hold {} floats, expected {} for {} frames of [6, {}, {}]",
                      options.image_tensors.size(), jobs.size() * per_frame, jobs.size(),
                      avatar.geometry().roi_size_px, avatar.geometry().roi_size_px);
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

}  // namespace

Result<RenderedBatch> render_batch(const LipSyncModel& model, std::span<const FrameJob> jobs,
                                   const BatchOptions& options, ThreadPool* pool) {
  const avatar::Avatar& avatar = model.avatar();
  RETURN_IF_ERROR(check_jobs(avatar, jobs, options));
  const auto& geometry = avatar.geometry();
  const std::size_t batch = jobs.size();
  // Padded slots repeat the last frame; their outputs are not composited.
  const std::size_t run_batch =
      std::max(batch, static_cast<std::size_t>(std::max(0, model.padded_batch_frames())));
  const std::size_t image_size = geometry.input_tensor_elements();
  RenderedBatch result;

  auto start = Clock::now();
  std::vector<float> images;
  std::span<const float> image_input = options.image_tensors;
  if (image_input.empty() || run_batch > batch) {
    images.resize(run_batch * image_size);
    if (image_input.empty()) {
      RETURN_IF_ERROR(for_each_frame(batch, pool, [&](std::size_t k) {
        return avatar.fill_input_tensor(static_cast<std::size_t>(jobs[k].source_frame),
                                        std::span(images).subspan(k * image_size, image_size));
      }));
    } else {
      std::copy(image_input.begin(), image_input.end(), images.begin());
    }
    for (std::size_t k = batch; k < run_batch; ++k) {
      std::copy_n(images.begin() + static_cast<std::ptrdiff_t>((batch - 1) * image_size),
                  image_size, images.begin() + static_cast<std::ptrdiff_t>(k * image_size));
    }
    image_input = images;
  }
  std::vector<float> audio(run_batch * audio::kFrameTensorSize);
  for (std::size_t k = 0; k < run_batch; ++k) {
    const auto& source = jobs[std::min(k, batch - 1)].audio;
    std::copy(source.begin(), source.end(),
              audio.begin() + static_cast<std::ptrdiff_t>(k * audio::kFrameTensorSize));
  }
  result.timings.prepare_ms = ms_since(start);

  start = Clock::now();
  const std::array<std::span<const float>, 2> inputs{image_input, std::span<const float>(audio)};
  ASSIGN_OR_RETURN(auto outputs, model.unet().run(inputs, static_cast<int64_t>(run_batch)));
  result.timings.inference_ms = ms_since(start);

  start = Clock::now();
  const std::size_t output_size = geometry.output_tensor_elements();
  const std::span<const float> output(outputs.at(0));
  result.frames.resize(batch);
  result.jpegs.resize(batch);
  RETURN_IF_ERROR(for_each_frame(batch, pool, [&](std::size_t k) -> Status {
    const auto index = static_cast<std::size_t>(jobs[k].source_frame);
    const auto face = output.subspan(k * output_size, output_size);
    if (jobs[k].jpeg) {
      ASSIGN_OR_RETURN(result.jpegs[k], avatar.render_jpeg(index, face,
                                                           {.settings = *jobs[k].jpeg,
                                                            .composite = options.composite}));
    } else {
      ASSIGN_OR_RETURN(result.frames[k], avatar.render_frame(index, face, options.composite));
    }
    return {};
  }));
  result.timings.composite_ms = ms_since(start);
  return result;
}

}  // namespace lipsync::pipeline
