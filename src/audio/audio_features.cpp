#include "audio/audio_features.h"

#include <algorithm>
#include <cstring>

namespace lipsync::audio {

std::size_t window_count(std::size_t mel_frames) {
  // ref: pipeline.md §2, n = int((M-16)/80*25) + 2, evaluated in float64 like the reference.
  const double span = static_cast<double>(mel_frames) - static_cast<double>(kWindowFrames);
  return static_cast<std::size_t>(
      static_cast<std::int64_t>(span / timeline::kMelRowsPerSecond * timeline::kFramesPerSecond) +
      2);
}

std::size_t window_start_unclamped(std::size_t k) {
  return (timeline::kMelRowsPerSecond * k) / timeline::kFramesPerSecond;
}

std::size_t window_start(std::size_t k, std::size_t mel_frames) {
  const std::size_t start = window_start_unclamped(k);
  return start + kWindowFrames > mel_frames ? mel_frames - kWindowFrames : start;
}

void write_window(std::span<const double> mel_rows, std::span<float> out) {
  // ref: pipeline.md §2, the window transposed to [80, 16].
  for (std::size_t r = 0; r < kWindowFrames; ++r) {
    for (std::size_t b = 0; b < kMelBins; ++b) {
      out[b * kWindowFrames + r] = static_cast<float>(mel_rows[r * kMelBins + b]);
    }
  }
}

Result<std::vector<float>> clip_windows(const MelSpectrogram& mel) {
  if (mel.frame_count < kMinMelFrames) {
    return make_error(ErrorCode::kInvalidArgument,
                      "audio too short: {} mel frames, the encoder needs at least {} "
                      "(at least {} samples at 16 kHz)",
                      mel.frame_count, kMinMelFrames, kMinAudioSamples);
  }
  const std::size_t count = window_count(mel.frame_count);
  std::vector<float> windows(count * kWindowSize);
  for (std::size_t k = 0; k < count; ++k) {
    const std::size_t start = window_start(k, mel.frame_count);
    write_window(std::span<const double>(mel.values).subspan(start * kMelBins, kWindowSize),
                 std::span<float>(windows).subspan(k * kWindowSize, kWindowSize));
  }
  return windows;
}

Result<std::vector<float>> encode_windows(FeatureEncoder& encoder, std::span<const float> windows,
                                          std::size_t count, std::size_t max_batch) {
  if (windows.size() != count * kWindowSize || max_batch == 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "encode_windows: {} values for {} windows of {} (batch {})", windows.size(),
                      count, kWindowSize, max_batch);
  }
  std::vector<float> features;
  features.reserve(count * kFeatureSize);
  for (std::size_t first = 0; first < count; first += max_batch) {
    const std::size_t batch = std::min(max_batch, count - first);
    ASSIGN_OR_RETURN(
        std::vector<float> out,
        encoder.encode(windows.subspan(first * kWindowSize, batch * kWindowSize), batch));
    if (out.size() != batch * kFeatureSize) {
      return make_error(ErrorCode::kInternal,
                        "audio encoder returned {} values for {} windows, expected {}", out.size(),
                        batch, batch * kFeatureSize);
    }
    features.insert(features.end(), out.begin(), out.end());
  }
  return features;
}

std::vector<float> pad_features(std::span<const float> features, std::size_t count) {
  std::vector<float> padded;
  if (count == 0) return padded;
  padded.reserve((count + 2) * kFeatureSize);
  const auto first = features.begin();
  const auto last = features.begin() + static_cast<std::ptrdiff_t>((count - 1) * kFeatureSize);
  padded.insert(padded.end(), first, first + kFeatureSize);
  padded.insert(padded.end(), features.begin(),
                features.begin() + static_cast<std::ptrdiff_t>(count * kFeatureSize));
  padded.insert(padded.end(), last, last + kFeatureSize);
  return padded;
}

void write_frame_tensor(std::span<const float> padded_features, std::size_t padded_rows,
                        std::size_t frame, std::span<float> out, std::size_t first_row) {
  // Row r of the [16, 512] block is F_pad[i-8+r]; [16,512] -> [32,16,16] is the same memory.
  for (std::size_t r = 0; r < kFrameContextRows; ++r) {
    float* dst = out.data() + r * kFeatureSize;
    const std::size_t source = frame + r;  // F_pad index + 8
    if (source < kFrameContextBefore || source - kFrameContextBefore >= padded_rows) {
      std::fill(dst, dst + kFeatureSize, 0.0f);
    } else {
      const std::size_t row = source - kFrameContextBefore - first_row;
      const float* src = padded_features.data() + row * kFeatureSize;
      std::memcpy(dst, src, kFeatureSize * sizeof(float));
    }
  }
}

Result<ClipFeatures> extract_clip_features(const MelSpectrogram& mel, FeatureEncoder& encoder,
                                           std::size_t max_batch) {
  ClipFeatures clip;
  ASSIGN_OR_RETURN(clip.windows, clip_windows(mel));
  clip.window_count = clip.windows.size() / kWindowSize;
  ASSIGN_OR_RETURN(std::vector<float> features,
                   encode_windows(encoder, clip.windows, clip.window_count, max_batch));
  clip.padded_features = pad_features(features, clip.window_count);
  return clip;
}

std::vector<float> clip_frame_tensors(const ClipFeatures& clip) {
  std::vector<float> tensors(clip.frame_count() * kFrameTensorSize);
  for (std::size_t i = 0; i < clip.frame_count(); ++i) {
    write_frame_tensor(clip.padded_features, clip.padded_rows(), i,
                       std::span<float>(tensors).subspan(i * kFrameTensorSize, kFrameTensorSize));
  }
  return tensors;
}

}  // namespace lipsync::audio
