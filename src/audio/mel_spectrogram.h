// Audio -> normalised log-mel spectrogram, exactly as pipeline.md §1, computed in float64.
//
//   ASSIGN_OR_RETURN(auto analyzer, MelAnalyzer::create());
//   ASSIGN_OR_RETURN(MelSpectrogram mel, analyzer->compute(samples_16k_mono));
//
// The per-frame kernel (`compute_frames`) is shared by the whole-clip path and the streaming
// extractor, so both give bit-identical rows.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

#include "core/status.h"
#include "core/timeline.h"

namespace lipsync::audio {

// ref: pipeline.md §1 (SyncTalk_2D audio.py hparams).
inline constexpr int kSampleRateHz = timeline::kSampleRateHz;
inline constexpr std::size_t kFftSize = timeline::kMelFftSamples;     // n_fft = win_length
inline constexpr std::size_t kHopSamples = timeline::kMelHopSamples;  // 12.5 ms: 80 rows/s
inline constexpr std::size_t kCentrePadSamples = kFftSize / 2;  // zero padding on each side
inline constexpr std::size_t kFftBins = kFftSize / 2 + 1;       // 401
inline constexpr std::size_t kMelBins = 80;
inline constexpr double kMelFminHz = 55.0;
inline constexpr double kMelFmaxHz = 7600.0;
inline constexpr double kPreemphasis = 0.97;
// Refuse clips longer than this (6 hours) before allocating anything.
inline constexpr std::size_t kMaxAudioSamples = std::size_t{6} * 3600 * kSampleRateHz;

// Mel frames for a clip of `samples` samples: M = 1 + floor(len / hop).
inline std::size_t mel_frame_count(std::size_t samples) {
  return 1 + samples / kHopSamples;
}

// [frame_count, 80], time-major.
struct MelSpectrogram {
  std::size_t frame_count = 0;
  std::vector<double> values;

  std::span<const double> row(std::size_t t) const {
    return std::span<const double>(values).subspan(t * kMelBins, kMelBins);
  }
};

// Every intermediate stage of §1 for one clip, for conformance tests and `lipsync features`.
struct MelStages {
  std::vector<double> preemphasis;  // [len]
  MelSpectrogram linear;            // step 4: B·|X|
  MelSpectrogram decibels;          // step 5
  MelSpectrogram normalized;        // step 6
};

// The 80×401 Slaney-scale, Slaney-normalised filterbank of librosa.filters.mel
// (sr 16000, n_fft 800, fmin 55, fmax 7600), row-major. ref: pipeline.md §1.4.
std::vector<double> slaney_mel_filterbank();

// Checks that samples are finite and the length is usable; errors name the offending sample.
Status validate_samples(std::span<const float> samples);

class MelAnalyzer {
 public:
  static Result<std::unique_ptr<MelAnalyzer>> create();
  ~MelAnalyzer();
  MelAnalyzer(const MelAnalyzer&) = delete;
  MelAnalyzer& operator=(const MelAnalyzer&) = delete;

  // Normalised mel [M, 80] of 16 kHz mono samples in [-1, 1].
  Result<MelSpectrogram> compute(std::span<const float> samples) const;
  Result<MelStages> compute_stages(std::span<const float> samples) const;

  // `frame_count` normalised mel rows from the pre-emphasised, centre-padded signal:
  // frame f reads padded[f·hop, f·hop + n_fft). Writes frame_count·80 values to `out`.
  void compute_frames(const double* padded, std::size_t frame_count, double* out) const;

 private:
  struct Impl;
  explicit MelAnalyzer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// y[0] = x[0]; y[n] = x[n] - 0.97·x[n-1] in float64, with `previous` as x[-1] when given.
// ref: pipeline.md §1.1.
void preemphasize(std::span<const float> x, const float* previous, double* out);

// Step 5-6 of §1 on one linear mel value.
double mel_to_decibels(double mel);
double normalize_decibels(double decibels);

}  // namespace lipsync::audio
