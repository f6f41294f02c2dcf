// Streaming audio front-end: 16 kHz mono chunks of any size in, per-frame UNet audio tensors
// out, each as soon as the audio it depends on has arrived. Equal to whole-clip processing:
// mel rows bit-identical, features/tensors identical given a batch-independent encoder.
//
// What is emitted when (M, n: mel frames and windows of the whole clip so far):
//   - mel frame t before flush once 200t+400 samples arrived (its padded span [200t, 200t+800)
//     then holds no right-padding zeros); at flush the rest, t < M, with the zero padding.
//   - window k before flush once mel rows up to s_k+15 (unclamped s_k = floor(3.2k)) are final:
//     such a window is never the clamped last one of the clip. At flush: the rest, k < n, the
//     last one clamped to s = M-16 as in §2.
//   - frame i before flush once F_pad rows up to i+7 are known, i.e. window i+6 is encoded;
//     at flush: F_pad gets its duplicated last row and the remaining frames i < n+2.
// Frame i thus needs samples [0, 200·(floor(3.2(i+6))+16) + 200): at most 452.5 ms after the
// frame's start (timeline::kLookaheadSamples), the model's property (pipeline.md §3).
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

#include "audio/audio_features.h"
#include "audio/mel_spectrogram.h"
#include "core/status.h"
#include "core/timeline.h"

namespace lipsync::audio {

// Samples that must have arrived before frame i can be emitted (without a flush).
std::size_t samples_needed_for_frame(std::size_t frame);

// Samples -> final normalised mel rows. Shares the whole-clip kernel (MelAnalyzer).
class StreamingMel {
 public:
  explicit StreamingMel(std::shared_ptr<const MelAnalyzer> analyzer);

  // Appends samples; writes the newly final rows ([rows, 80]) to `rows` (appending).
  Status push(std::span<const float> samples, std::vector<double>& rows);
  // Ends the clip: appends the remaining rows (with the right zero padding).
  Status flush(std::vector<double>& rows);

  std::size_t samples_received() const { return samples_received_; }
  std::size_t frames_emitted() const { return next_frame_; }
  std::size_t buffered_bytes() const { return padded_.capacity() * sizeof(double); }

 private:
  void compute_ready(std::size_t frame_end, std::vector<double>& rows);

  std::shared_ptr<const MelAnalyzer> analyzer_;
  std::vector<double> padded_;   // pre-emphasised, padded signal from padded_base_
  std::size_t padded_base_ = 0;  // padded-signal index of padded_[0]
  std::size_t samples_received_ = 0;
  float last_sample_ = 0.0f;
  std::size_t next_frame_ = 0;
  bool flushed_ = false;
};

// One output frame's audio tensor.
struct FrameTensor {
  std::size_t index = 0;
  std::vector<float> values;  // [32, 16, 16]
};

class StreamingFeatureExtractor {
 public:
  StreamingFeatureExtractor(std::shared_ptr<const MelAnalyzer> analyzer, FeatureEncoder& encoder);

  // Appends 16 kHz mono samples; returns the frames that became computable, in order.
  Result<std::vector<FrameTensor>> push(std::span<const float> samples);
  // Ends the clip and returns the remaining frames. Errors if the clip is too short to encode.
  Result<std::vector<FrameTensor>> flush();

  // How much audio past a frame's start is held back before the frame is emitted (worst case).
  static double lookahead_ms() { return timeline::kLookaheadMs; }
  std::size_t samples_received() const { return mel_.samples_received(); }
  std::size_t frames_emitted() const { return next_frame_; }
  std::size_t windows_encoded() const { return windows_encoded_; }
  // Memory held for pending audio; bounded, independent of the stream's length.
  std::size_t buffered_bytes() const {
    return mel_.buffered_bytes() + mel_rows_.capacity() * sizeof(double) +
           padded_features_.capacity() * sizeof(float);
  }

 private:
  Status encode_ready_windows(std::size_t window_end, std::size_t mel_frames_total);
  std::vector<FrameTensor> emit_frames(std::size_t frame_end);
  void trim();

  StreamingMel mel_;
  FeatureEncoder& encoder_;
  std::vector<double> mel_rows_;  // final mel rows from mel_base_
  std::size_t mel_base_ = 0;
  std::size_t windows_encoded_ = 0;
  std::vector<float> padded_features_;  // F_pad rows from feature_base_
  std::size_t feature_base_ = 0;
  std::size_t padded_rows_known_ = 0;  // F_pad rows that are final
  std::size_t next_frame_ = 0;
  bool flushed_ = false;
};

}  // namespace lipsync::audio
