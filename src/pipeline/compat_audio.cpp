#include "pipeline/compat_audio.h"

#include <algorithm>
#include <cmath>

#include "audio/audio_decoder.h"

namespace lipsync::pipeline {
namespace {

using audio::kFeatureSize;
using audio::kFrameContextBefore;
using audio::kFrameContextRows;
using audio::kFrameTensorSize;
using audio::kHopSamples;
using audio::kMelBins;
using audio::kWindowFrames;

constexpr std::int64_t kHop = static_cast<std::int64_t>(kHopSamples);
constexpr std::int64_t kCentrePad = static_cast<std::int64_t>(audio::kCentrePadSamples);

// s_k = floor(80k/25), unclamped: the clip has no end here. ref: pipeline.md §2.
std::int64_t window_start(std::int64_t k) {
  return static_cast<std::int64_t>(audio::window_start_unclamped(static_cast<std::size_t>(k)));
}

// The F rows (encoder windows) [k_lo, k_hi] that frames [first, first+count) read.
// Frame i reads F_pad rows i-8 .. i+7 (zero below 0); F_pad row r is F[max(r-1, 0)].
// ref: pipeline.md §2-3.
struct WindowRange {
  std::int64_t first_row = 0;  // lowest F_pad row read (may be < 0)
  std::int64_t last_row = 0;   // highest F_pad row read
  std::int64_t k_lo = 0;
  std::int64_t k_hi = 0;
};

WindowRange window_range(std::int64_t first, std::size_t count) {
  WindowRange range;
  range.first_row = first - static_cast<std::int64_t>(kFrameContextBefore);
  range.last_row = first + static_cast<std::int64_t>(count) - 1 +
                   static_cast<std::int64_t>(kFrameContextRows - kFrameContextBefore) - 1;
  range.k_lo = std::max<std::int64_t>(0, range.first_row - 1);
  range.k_hi = std::max<std::int64_t>(0, range.last_row - 1);
  return range;
}

// Pre-emphasised, centre-padded signal of the clip for global mel frames [t0, t1): index 0 is
// padded sample t0·hop, i.e. clip sample t0·hop - 400. Clip samples outside the request's audio
// (which starts at clip sample `audio_offset`) are zero. ref: pipeline.md §1.1-1.2.
std::vector<double> padded_signal(std::span<const float> samples, std::int64_t audio_offset,
                                  std::int64_t t0, std::int64_t t1) {
  const std::int64_t g0 = t0 * kHop - kCentrePad;
  const std::int64_t g1 = (t1 - 1) * kHop + kCentrePad;
  // x over clip samples [g0 - 1, g1): the extra leading sample is the pre-emphasis x[-1].
  std::vector<float> x(static_cast<std::size_t>(g1 - g0 + 1), 0.0f);
  const std::int64_t audio_end = audio_offset + static_cast<std::int64_t>(samples.size());
  const std::int64_t copy_lo = std::max(g0 - 1, audio_offset);
  const std::int64_t copy_hi = std::min(g1, audio_end);
  for (std::int64_t n = copy_lo; n < copy_hi; ++n) {
    x[static_cast<std::size_t>(n - (g0 - 1))] = samples[static_cast<std::size_t>(n - audio_offset)];
  }
  std::vector<double> y(x.size() - 1);
  // Clip sample 0 has no predecessor: y[0] = x[0], which x[-1] = 0 gives as well.
  audio::preemphasize(std::span<const float>(x).subspan(1), x.data(), y.data());
  return y;
}

// raw_audio at 16 kHz, checked before any work: the rate rule and the length limit of every
// client input (audio_decoder.h), from the sample count alone, so an oversized request costs no
// resampling.
Result<std::vector<float>> samples_16k(const CompatAudio& request) {
  const int rate_hz = request.sample_rate_hz == 0 ? audio::kSampleRateHz : request.sample_rate_hz;
  RETURN_IF_ERROR(audio::check_input_format(rate_hz, 1, "sample_rate"));
  const double seconds = static_cast<double>(request.raw_audio.size()) / rate_hz;
  if (seconds > audio::kMaxClientAudioSeconds) {
    return make_error(ErrorCode::kInvalidArgument,
                      "raw_audio holds {:.0f} s at {} Hz, longer than the limit of {:.0f} s",
                      seconds, rate_hz, audio::kMaxClientAudioSeconds);
  }
  for (std::size_t i = 0; i < request.raw_audio.size(); ++i) {
    if (!std::isfinite(request.raw_audio[i])) {
      return make_error(ErrorCode::kInvalidArgument, "raw_audio sample {} is not finite", i);
    }
  }
  if (rate_hz == audio::kSampleRateHz) {
    return std::vector<float>(request.raw_audio.begin(), request.raw_audio.end());
  }
  auto samples = audio::convert_pcm(request.raw_audio, rate_hz, 1,
                                    {.max_duration_s = audio::kMaxClientAudioSeconds});
  if (samples.ok()) return samples;
  return samples.status().with_context("raw_audio");
}

// F [k_hi-k_lo+1, 512] for the windows of `range`.
Result<std::vector<float>> encode_range(std::span<const float> samples, std::int64_t audio_offset,
                                        const WindowRange& range, const audio::MelAnalyzer& mel,
                                        audio::FeatureEncoder& encoder) {
  const std::int64_t t0 = window_start(range.k_lo);
  const std::int64_t t1 = window_start(range.k_hi) + static_cast<std::int64_t>(kWindowFrames);
  const std::vector<double> padded = padded_signal(samples, audio_offset, t0, t1);
  std::vector<double> rows(static_cast<std::size_t>(t1 - t0) * kMelBins);
  mel.compute_frames(padded.data(), static_cast<std::size_t>(t1 - t0), rows.data());

  const auto count = static_cast<std::size_t>(range.k_hi - range.k_lo + 1);
  std::vector<float> windows(count * audio::kWindowSize);
  for (std::size_t w = 0; w < count; ++w) {
    const auto row =
        static_cast<std::size_t>(window_start(range.k_lo + static_cast<std::int64_t>(w)) - t0);
    audio::write_window(
        std::span<const double>(rows).subspan(row * kMelBins, kWindowFrames * kMelBins),
        std::span(windows).subspan(w * audio::kWindowSize, audio::kWindowSize));
  }
  return audio::encode_windows(encoder, windows, count);
}

}  // namespace

std::int64_t audio_start_frame(const CompatAudio& request) {
  if (request.audio_start_frame.has_value()) return *request.audio_start_frame;
  return std::max<std::int64_t>(0, request.start_frame - kCompatAudioLeadFrames);
}

Result<std::vector<float>> compat_frame_tensors(const CompatAudio& request,
                                                const audio::MelAnalyzer& mel,
                                                audio::FeatureEncoder& encoder) {
  std::vector<float> tensors(request.frame_count * kFrameTensorSize, 0.0f);
  if (request.raw_audio.empty()) {
    if (request.legacy_features.empty()) {
      return make_error(ErrorCode::kInvalidArgument,
                        "no audio: raw_audio and audio_features are both empty");
    }
    if (request.legacy_features.size() != kFrameTensorSize) {
      return make_error(ErrorCode::kInvalidArgument,
                        "audio_features has {} floats, expected {} ([32, 16, 16])",
                        request.legacy_features.size(), kFrameTensorSize);
    }
    for (std::size_t i = 0; i < request.frame_count; ++i) {
      std::copy(request.legacy_features.begin(), request.legacy_features.end(),
                tensors.begin() + static_cast<std::ptrdiff_t>(i * kFrameTensorSize));
    }
    return tensors;
  }
  ASSIGN_OR_RETURN(std::vector<float> samples, samples_16k(request));
  const WindowRange range = window_range(request.start_frame, request.frame_count);
  if (request.frame_count == 0 || range.last_row < 0) return tensors;  // all before the clip
  const std::int64_t offset = timeline::frame_to_samples(audio_start_frame(request));
  ASSIGN_OR_RETURN(std::vector<float> features, encode_range(samples, offset, range, mel, encoder));

  // Frame i: F_pad rows i-8 .. i+7 as [32,16,16]; rows below 0 stay zero. ref: pipeline.md §3.
  for (std::size_t i = 0; i < request.frame_count; ++i) {
    const std::int64_t frame = request.start_frame + static_cast<std::int64_t>(i);
    for (std::size_t j = 0; j < kFrameContextRows; ++j) {
      const std::int64_t row =
          frame - static_cast<std::int64_t>(kFrameContextBefore) + static_cast<std::int64_t>(j);
      if (row < 0) continue;
      const std::int64_t k = std::max<std::int64_t>(row - 1, 0) - range.k_lo;
      const auto src = features.begin() +
                       static_cast<std::ptrdiff_t>(k * static_cast<std::int64_t>(kFeatureSize));
      std::copy(
          src, src + static_cast<std::ptrdiff_t>(kFeatureSize),
          tensors.begin() + static_cast<std::ptrdiff_t>(i * kFrameTensorSize + j * kFeatureSize));
    }
  }
  return tensors;
}

}  // namespace lipsync::pipeline
