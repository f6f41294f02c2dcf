// Mel -> encoder windows -> audio features -> per-frame UNet audio tensors (pipeline.md §2-3).
//
//   ASSIGN_OR_RETURN(ClipFeatures clip, extract_clip_features(mel, encoder));
//   std::vector<float> tensor(kFrameTensorSize);
//   write_frame_tensor(clip.padded_features, clip.padded_rows(), i, tensor);
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "audio/mel_spectrogram.h"
#include "core/status.h"
#include "core/timeline.h"

namespace lipsync::audio {

// ref: pipeline.md §2-3.
inline constexpr std::size_t kWindowFrames = timeline::kEncoderWindowRows;  // mel rows per window
inline constexpr std::size_t kWindowSize = kMelBins * kWindowFrames;  // [1, 80, 16]
inline constexpr std::size_t kFeatureSize = 512;                      // encoder output width
inline constexpr std::size_t kFrameContextRows = 16;                  // F_pad[i-8, i+8)
inline constexpr std::size_t kFrameContextBefore = 8;
inline constexpr std::size_t kFrameTensorSize = kFrameContextRows * kFeatureSize;  // [32,16,16]
// The UNet's audio input per frame: the [16, 512] rows reinterpreted row-major (§3).
inline constexpr std::array<std::int64_t, 3> kFrameTensorShape{32, 16, 16};
static_assert(kFrameTensorShape[0] * kFrameTensorShape[1] * kFrameTensorShape[2] ==
              static_cast<std::int64_t>(kFrameTensorSize));
// Windows per encoder run when encoding a whole clip: a few runs per clip, not one per window.
inline constexpr std::size_t kDefaultEncoderBatch = 128;

// The audio encoder: [count, 1, 80, 16] windows -> [count, 512] features. Implementations live
// outside this module (pipeline/onnx_feature_encoder.h); tests use small deterministic ones.
class FeatureEncoder {
 public:
  virtual ~FeatureEncoder() = default;
  virtual Result<std::vector<float>> encode(std::span<const float> windows, std::size_t count) = 0;
};

// Smallest mel spectrogram that has encoder windows (M ≥ 16), and the samples it needs.
inline constexpr std::size_t kMinMelFrames = kWindowFrames;
inline constexpr std::size_t kMinAudioSamples = (kMinMelFrames - 1) * kHopSamples;

// n = int((M-16)/80·25) + 2 for a clip of M ≥ 16 mel frames. ref: pipeline.md §2.
std::size_t window_count(std::size_t mel_frames);
// s_k = floor(80k/25), unclamped.
std::size_t window_start_unclamped(std::size_t k);
// s_k clamped to M-16 for a clip of M mel frames.
std::size_t window_start(std::size_t k, std::size_t mel_frames);

// Writes a window transposed to [80, 16] (mel bins are rows) from 16 time-major mel rows
// ([16, 80], the rows s_k .. s_k+15).
void write_window(std::span<const double> mel_rows, std::span<float> out);

// All n windows of a whole clip, [n, 1, 80, 16].
Result<std::vector<float>> clip_windows(const MelSpectrogram& mel);

// Runs the encoder over `count` windows in runs of at most `max_batch`; checks its output size.
Result<std::vector<float>> encode_windows(FeatureEncoder& encoder, std::span<const float> windows,
                                          std::size_t count,
                                          std::size_t max_batch = kDefaultEncoderBatch);

// F [n, 512] -> F_pad = [F0, F0..F(n-1), F(n-1)], [n+2, 512]. ref: pipeline.md §2.
std::vector<float> pad_features(std::span<const float> features, std::size_t count);

// Frame i's audio tensor [32, 16, 16]: F_pad rows i-8 .. i+7 (zero rows outside [0, rows)),
// reinterpreted row-major. ref: pipeline.md §3. `padded_features` holds the F_pad rows
// [first_row, ...); the frame must not need a row below `first_row`.
void write_frame_tensor(std::span<const float> padded_features, std::size_t padded_rows,
                        std::size_t frame, std::span<float> out, std::size_t first_row = 0);

struct ClipFeatures {
  std::size_t window_count = 0;
  std::vector<float> windows;          // [n, 1, 80, 16]
  std::vector<float> padded_features;  // F_pad [n+2, 512]

  std::size_t padded_rows() const { return window_count + 2; }
  // One output frame per F_pad row, as the reference renderer does.
  std::size_t frame_count() const { return padded_rows(); }
};

Result<ClipFeatures> extract_clip_features(const MelSpectrogram& mel, FeatureEncoder& encoder,
                                           std::size_t max_batch = kDefaultEncoderBatch);

// All frame tensors of a clip, [frame_count, 32, 16, 16].
std::vector<float> clip_frame_tensors(const ClipFeatures& clip);

}  // namespace lipsync::audio
