#include "pipeline/clip_renderer.h"

#include <algorithm>
#include <chrono>

#include "audio/mel_spectrogram.h"

namespace lipsync::pipeline {
namespace {

using Clock = std::chrono::steady_clock;

void add(BatchTimings& total, const BatchTimings& batch) {
  total.prepare_ms += batch.prepare_ms;
  total.inference_ms += batch.inference_ms;
  total.composite_ms += batch.composite_ms;
}

}  // namespace

std::int64_t clip_frame_count(std::size_t samples) {
  const std::size_t mel_frames = audio::mel_frame_count(samples);
  if (mel_frames < audio::kMinMelFrames) return 0;
  return static_cast<std::int64_t>(audio::window_count(mel_frames) + 2);
}

Result<ClipStats> render_clip(const LipSyncModel& model, audio::FeatureEncoder& encoder,
                              std::span<const float> samples, const ClipOptions& options,
                              const FrameSink& sink, ThreadPool* pool, const ProgressFn& progress) {
  if (options.max_batch < 1) {
    return make_error(ErrorCode::kInvalidArgument, "max_batch must be at least 1, not {}",
                      options.max_batch);
  }
  if (samples.size() < audio::kMinAudioSamples) {
    return make_error(ErrorCode::kInvalidArgument,
                      "audio is {:.3f} s long; at least {:.3f} s is needed for one frame",
                      samples.size() / double(audio::kSampleRateHz),
                      audio::kMinAudioSamples / double(audio::kSampleRateHz));
  }
  ClipStats stats;
  const auto audio_start = Clock::now();
  ASSIGN_OR_RETURN(auto analyzer, audio::MelAnalyzer::create());
  ASSIGN_OR_RETURN(auto mel, analyzer->compute(samples));
  ASSIGN_OR_RETURN(auto clip, audio::extract_clip_features(mel, encoder));
  const std::vector<float> tensors = audio::clip_frame_tensors(clip);
  stats.audio_ms = std::chrono::duration<double, std::milli>(Clock::now() - audio_start).count();

  const auto total = static_cast<std::int64_t>(clip.frame_count());
  const auto source_count = static_cast<std::int64_t>(model.avatar().frame_count());

  std::vector<FrameJob> jobs;
  for (std::int64_t first = 0; first < total; first += options.max_batch) {
    const std::int64_t count = std::min<std::int64_t>(options.max_batch, total - first);
    jobs.clear();
    for (std::int64_t i = first; i < first + count; ++i) {
      const auto offset = static_cast<std::size_t>(i) * audio::kFrameTensorSize;
      jobs.push_back(
          {imaging::source_frame_index(options.sequence, i, source_count, options.start_frame),
           std::span(tensors).subspan(offset, audio::kFrameTensorSize)});
    }
    ASSIGN_OR_RETURN(auto batch, render_batch(model, jobs, {options.composite, {}}, pool));
    if (first == 0) stats.first_batch_inference_ms = batch.timings.inference_ms;
    add(stats.totals, batch.timings);
    for (std::int64_t k = 0; k < count; ++k) {
      RETURN_IF_ERROR(sink(first + k, batch.frames[static_cast<std::size_t>(k)]));
    }
    stats.frames += count;
    if (progress) progress(stats.frames, total);
  }
  return stats;
}

}  // namespace lipsync::pipeline
