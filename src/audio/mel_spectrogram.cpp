#include "audio/mel_spectrogram.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <opencv2/core.hpp>

namespace lipsync::audio {
namespace {

// Frames per cv::dft call: bounds the scratch matrices; results do not depend on it.
constexpr std::size_t kFramesPerBlock = 64;

// ref: librosa.core.convert.hz_to_mel / mel_to_hz with htk=False (the Slaney scale).
constexpr double kSlaneyHzPerMel = 200.0 / 3.0;
constexpr double kSlaneyLogStartHz = 1000.0;
constexpr double kSlaneyLogStartMel = kSlaneyLogStartHz / kSlaneyHzPerMel;  // 15

double slaney_log_step() {
  return std::log(6.4) / 27.0;
}

double hz_to_mel(double hz) {
  if (hz < kSlaneyLogStartHz) return hz / kSlaneyHzPerMel;
  return kSlaneyLogStartMel + std::log(hz / kSlaneyLogStartHz) / slaney_log_step();
}

double mel_to_hz(double mel) {
  if (mel < kSlaneyLogStartMel) return kSlaneyHzPerMel * mel;
  return kSlaneyLogStartHz * std::exp(slaney_log_step() * (mel - kSlaneyLogStartMel));
}

// One filter's non-zero run of FFT bins.
struct SparseFilter {
  std::size_t first_bin = 0;
  std::vector<double> weights;
};

std::vector<SparseFilter> sparsify(const std::vector<double>& dense) {
  std::vector<SparseFilter> filters(kMelBins);
  for (std::size_t m = 0; m < kMelBins; ++m) {
    const double* row = dense.data() + m * kFftBins;
    std::size_t first = 0;
    while (first < kFftBins && row[first] == 0.0) ++first;
    std::size_t last = kFftBins;
    while (last > first && row[last - 1] == 0.0) --last;
    filters[m].first_bin = first;
    filters[m].weights.assign(row + first, row + last);
  }
  return filters;
}

}  // namespace

std::vector<double> slaney_mel_filterbank() {
  // ref: librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600), pipeline.md §1.4.
  constexpr std::size_t kEdges = kMelBins + 2;
  const double mel_min = hz_to_mel(kMelFminHz);
  const double mel_max = hz_to_mel(kMelFmaxHz);
  std::vector<double> edges_hz(kEdges);
  for (std::size_t i = 0; i < kEdges; ++i) {
    const double mel = mel_min + (mel_max - mel_min) * static_cast<double>(i) / (kEdges - 1);
    edges_hz[i] = mel_to_hz(mel);
  }
  const double bin_hz = static_cast<double>(kSampleRateHz) / static_cast<double>(kFftSize);
  std::vector<double> bank(kMelBins * kFftBins, 0.0);
  for (std::size_t m = 0; m < kMelBins; ++m) {
    const double lower_width = edges_hz[m + 1] - edges_hz[m];
    const double upper_width = edges_hz[m + 2] - edges_hz[m + 1];
    const double area_norm = 2.0 / (edges_hz[m + 2] - edges_hz[m]);  // Slaney normalisation
    for (std::size_t k = 0; k < kFftBins; ++k) {
      const double hz = bin_hz * static_cast<double>(k);
      const double rising = (hz - edges_hz[m]) / lower_width;
      const double falling = (edges_hz[m + 2] - hz) / upper_width;
      bank[m * kFftBins + k] = std::max(0.0, std::min(rising, falling)) * area_norm;
    }
  }
  return bank;
}

Status validate_samples(std::span<const float> samples) {
  if (samples.empty()) return make_error(ErrorCode::kInvalidArgument, "audio is empty");
  if (samples.size() > kMaxAudioSamples) {
    return make_error(ErrorCode::kInvalidArgument,
                      "audio has {} samples ({:.0f} s), more than the limit of {} s",
                      samples.size(), static_cast<double>(samples.size()) / kSampleRateHz,
                      kMaxAudioSamples / kSampleRateHz);
  }
  for (std::size_t i = 0; i < samples.size(); ++i) {
    if (!std::isfinite(samples[i])) {
      return make_error(ErrorCode::kInvalidArgument, "audio sample {} is {} (not finite)", i,
                        samples[i]);
    }
  }
  return Status::ok_status();
}

void preemphasize(std::span<const float> x, const float* previous, double* out) {
  // ref: pipeline.md §1.1, in float64.
  double prior = previous != nullptr ? static_cast<double>(*previous) : 0.0;
  for (std::size_t n = 0; n < x.size(); ++n) {
    const double current = static_cast<double>(x[n]);
    out[n] = (n == 0 && previous == nullptr) ? current : current - kPreemphasis * prior;
    prior = current;
  }
}

double mel_to_decibels(double mel) {
  // ref: pipeline.md §1.5.
  return 20.0 * std::log10(std::max(1e-5, mel)) - 20.0;
}

double normalize_decibels(double decibels) {
  // ref: pipeline.md §1.6.
  return std::clamp(0.08 * decibels + 4.0, -4.0, 4.0);
}

struct MelAnalyzer::Impl {
  std::vector<double> window;  // periodic Hann, ref: pipeline.md §1.3
  std::vector<SparseFilter> filters;

  // Linear mel (step 4) of `count` frames into out[count, 80].
  void linear_frames(const double* padded, std::size_t count, double* out) const {
    cv::Mat frames(static_cast<int>(count), static_cast<int>(kFftSize), CV_64F);
    for (std::size_t f = 0; f < count; ++f) {
      const double* src = padded + f * kHopSamples;
      double* dst = frames.ptr<double>(static_cast<int>(f));
      for (std::size_t n = 0; n < kFftSize; ++n) dst[n] = src[n] * window[n];
    }
    cv::Mat spectrum;
    cv::dft(frames, spectrum, cv::DFT_ROWS);  // real input: CCS-packed rows
    double magnitude[kFftBins];
    for (std::size_t f = 0; f < count; ++f) {
      unpack_magnitude(spectrum.ptr<double>(static_cast<int>(f)), magnitude);
      project(magnitude, out + f * kMelBins);
    }
  }

  // CCS row of an even-length real DFT: Re0, Re1, Im1, ..., Re(N/2-1), Im(N/2-1), Re(N/2).
  static void unpack_magnitude(const double* ccs, double* magnitude) {
    magnitude[0] = std::abs(ccs[0]);
    for (std::size_t k = 1; k < kFftBins - 1; ++k) {
      const double re = ccs[2 * k - 1], im = ccs[2 * k];
      magnitude[k] = std::sqrt(re * re + im * im);
    }
    magnitude[kFftBins - 1] = std::abs(ccs[kFftSize - 1]);
  }

  void project(const double* magnitude, double* mel) const {
    for (std::size_t m = 0; m < kMelBins; ++m) {
      const SparseFilter& filter = filters[m];
      double sum = 0.0;
      for (std::size_t j = 0; j < filter.weights.size(); ++j) {
        sum += filter.weights[j] * magnitude[filter.first_bin + j];
      }
      mel[m] = sum;
    }
  }
};

MelAnalyzer::MelAnalyzer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MelAnalyzer::~MelAnalyzer() = default;

Result<std::unique_ptr<MelAnalyzer>> MelAnalyzer::create() {
  auto impl = std::make_unique<Impl>();
  impl->window.resize(kFftSize);
  for (std::size_t n = 0; n < kFftSize; ++n) {
    // Periodic Hann: divide by N, not N-1. ref: pipeline.md §1.3.
    impl->window[n] = 0.5 - 0.5 * std::cos(2.0 * std::numbers::pi * static_cast<double>(n) /
                                           static_cast<double>(kFftSize));
  }
  impl->filters = sparsify(slaney_mel_filterbank());
  return std::unique_ptr<MelAnalyzer>(new MelAnalyzer(std::move(impl)));
}

void MelAnalyzer::compute_frames(const double* padded, std::size_t frame_count, double* out) const {
  for (std::size_t start = 0; start < frame_count; start += kFramesPerBlock) {
    const std::size_t count = std::min(kFramesPerBlock, frame_count - start);
    double* block_out = out + start * kMelBins;
    impl_->linear_frames(padded + start * kHopSamples, count, block_out);
    for (std::size_t i = 0; i < count * kMelBins; ++i) {
      block_out[i] = normalize_decibels(mel_to_decibels(block_out[i]));
    }
  }
}

namespace {

// Pre-emphasised signal with `kCentrePadSamples` zeros on each side. ref: pipeline.md §1.1-1.2.
std::vector<double> padded_preemphasis(std::span<const float> samples) {
  std::vector<double> padded(samples.size() + 2 * kCentrePadSamples, 0.0);
  preemphasize(samples, nullptr, padded.data() + kCentrePadSamples);
  return padded;
}

}  // namespace

Result<MelSpectrogram> MelAnalyzer::compute(std::span<const float> samples) const {
  RETURN_IF_ERROR(validate_samples(samples));
  const std::vector<double> padded = padded_preemphasis(samples);
  MelSpectrogram mel;
  mel.frame_count = mel_frame_count(samples.size());
  mel.values.resize(mel.frame_count * kMelBins);
  compute_frames(padded.data(), mel.frame_count, mel.values.data());
  return mel;
}

Result<MelStages> MelAnalyzer::compute_stages(std::span<const float> samples) const {
  RETURN_IF_ERROR(validate_samples(samples));
  const std::vector<double> padded = padded_preemphasis(samples);
  MelStages stages;
  stages.preemphasis.assign(padded.begin() + kCentrePadSamples, padded.end() - kCentrePadSamples);
  const std::size_t frames = mel_frame_count(samples.size());
  for (MelSpectrogram* stage : {&stages.linear, &stages.decibels, &stages.normalized}) {
    stage->frame_count = frames;
    stage->values.resize(frames * kMelBins);
  }
  for (std::size_t start = 0; start < frames; start += kFramesPerBlock) {
    const std::size_t count = std::min(kFramesPerBlock, frames - start);
    impl_->linear_frames(padded.data() + start * kHopSamples, count,
                         stages.linear.values.data() + start * kMelBins);
  }
  for (std::size_t i = 0; i < frames * kMelBins; ++i) {
    stages.decibels.values[i] = mel_to_decibels(stages.linear.values[i]);
    stages.normalized.values[i] = normalize_decibels(stages.decibels.values[i]);
  }
  return stages;
}

}  // namespace lipsync::audio
