#include "audio/streaming_extractor.h"

#include <algorithm>
#include <cmath>

namespace lipsync::audio {
namespace {

// Erase consumed elements from the front only in large steps, so 1-sample pushes stay O(1).
constexpr std::size_t kTrimThresholdElements = 16384;

// Drops elements before `new_base` (in units of `stride` elements) once enough accumulated.
template <typename T>
void drop_front(std::vector<T>& values, std::size_t& base, std::size_t new_base,
                std::size_t stride) {
  if (new_base <= base) return;
  const std::size_t drop = (new_base - base) * stride;
  if (drop < kTrimThresholdElements) return;
  values.erase(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(drop));
  base = new_base;
}

// Mel frames t whose padded span [200t, 200t+800) lies within the first `samples` samples plus
// the left padding: 200t + 800 <= 400 + samples.
std::size_t final_frames_before_flush(std::size_t samples) {
  if (samples < kFftSize - kCentrePadSamples) return 0;
  return (samples - (kFftSize - kCentrePadSamples)) / kHopSamples + 1;
}

Status check_chunk(std::span<const float> samples, std::size_t received) {
  if (received + samples.size() > kMaxAudioSamples) {
    return make_error(ErrorCode::kInvalidArgument,
                      "audio stream exceeds the limit of {} samples ({} s)", kMaxAudioSamples,
                      kMaxAudioSamples / kSampleRateHz);
  }
  for (std::size_t i = 0; i < samples.size(); ++i) {
    if (!std::isfinite(samples[i])) {
      return make_error(ErrorCode::kInvalidArgument, "audio sample {} is {} (not finite)",
                        received + i, samples[i]);
    }
  }
  return Status::ok_status();
}

}  // namespace

std::size_t samples_needed_for_frame(std::size_t frame) {
  // Window i+6 (F_pad row i+7) needs mel rows up to s+15; mel frame t needs 200t+400 samples.
  const std::size_t window = frame + static_cast<std::size_t>(timeline::kLookaheadWindows);
  const std::size_t last_mel_row = window_start_unclamped(window) + kWindowFrames - 1;
  return kHopSamples * last_mel_row + (kFftSize - kCentrePadSamples);
}

StreamingMel::StreamingMel(std::shared_ptr<const MelAnalyzer> analyzer)
    : analyzer_(std::move(analyzer)), padded_(kCentrePadSamples, 0.0) {}

Status StreamingMel::push(std::span<const float> samples, std::vector<double>& rows) {
  if (flushed_) return make_error(ErrorCode::kFailedPrecondition, "audio pushed after flush");
  RETURN_IF_ERROR(check_chunk(samples, samples_received_));
  if (samples.empty()) return Status::ok_status();
  const std::size_t old_size = padded_.size();
  padded_.resize(old_size + samples.size());
  preemphasize(samples, samples_received_ > 0 ? &last_sample_ : nullptr, padded_.data() + old_size);
  last_sample_ = samples.back();
  samples_received_ += samples.size();
  compute_ready(final_frames_before_flush(samples_received_), rows);
  return Status::ok_status();
}

Status StreamingMel::flush(std::vector<double>& rows) {
  if (flushed_) return make_error(ErrorCode::kFailedPrecondition, "audio stream flushed twice");
  if (samples_received_ == 0) return make_error(ErrorCode::kInvalidArgument, "audio is empty");
  flushed_ = true;
  padded_.resize(padded_.size() + kCentrePadSamples, 0.0);  // right centre padding
  compute_ready(mel_frame_count(samples_received_), rows);
  return Status::ok_status();
}

void StreamingMel::compute_ready(std::size_t frame_end, std::vector<double>& rows) {
  if (frame_end <= next_frame_) return;
  const std::size_t count = frame_end - next_frame_;
  const std::size_t old_rows = rows.size();
  rows.resize(old_rows + count * kMelBins);
  analyzer_->compute_frames(padded_.data() + (next_frame_ * kHopSamples - padded_base_), count,
                            rows.data() + old_rows);
  next_frame_ = frame_end;
  drop_front(padded_, padded_base_, next_frame_ * kHopSamples, 1);
}

StreamingFeatureExtractor::StreamingFeatureExtractor(std::shared_ptr<const MelAnalyzer> analyzer,
                                                     FeatureEncoder& encoder)
    : mel_(std::move(analyzer)), encoder_(encoder) {}

Result<std::vector<FrameTensor>> StreamingFeatureExtractor::push(std::span<const float> samples) {
  if (flushed_) return make_error(ErrorCode::kFailedPrecondition, "audio pushed after flush");
  RETURN_IF_ERROR(mel_.push(samples, mel_rows_));
  const std::size_t mel_frames = mel_.frames_emitted();
  std::size_t window_end = windows_encoded_;
  while (window_start_unclamped(window_end) + kWindowFrames <= mel_frames) ++window_end;
  RETURN_IF_ERROR(encode_ready_windows(window_end, /*mel_frames_total=*/0));
  // Frame i needs F_pad rows up to i+7.
  const std::size_t frame_end = padded_rows_known_ >= 8 ? padded_rows_known_ - 7 : 0;
  std::vector<FrameTensor> frames = emit_frames(frame_end);
  trim();
  return frames;
}

Result<std::vector<FrameTensor>> StreamingFeatureExtractor::flush() {
  if (flushed_) return make_error(ErrorCode::kFailedPrecondition, "audio stream flushed twice");
  flushed_ = true;
  RETURN_IF_ERROR(mel_.flush(mel_rows_));
  const std::size_t mel_frames = mel_.frames_emitted();
  if (mel_frames < kMinMelFrames) {
    return make_error(ErrorCode::kInvalidArgument,
                      "audio too short: {} samples, the encoder needs at least {} (16 kHz)",
                      mel_.samples_received(), kMinAudioSamples);
  }
  const std::size_t windows = window_count(mel_frames);
  if (windows < windows_encoded_) {
    return make_error(ErrorCode::kInternal, "streaming encoded {} windows, the clip has {}",
                      windows_encoded_, windows);
  }
  RETURN_IF_ERROR(encode_ready_windows(windows, mel_frames));
  // F_pad's duplicated last row: F[n-1] again. ref: pipeline.md §2.
  const std::size_t last = (padded_rows_known_ - 1 - feature_base_) * kFeatureSize;
  padded_features_.insert(padded_features_.end(), padded_features_.begin() + last,
                          padded_features_.begin() + last + kFeatureSize);
  padded_rows_known_ += 1;
  return emit_frames(padded_rows_known_);
}

// Encodes windows [windows_encoded_, window_end). `mel_frames_total` is the clip's M at flush
// (windows clamped to M-16), 0 before it (no window is clamped then).
Status StreamingFeatureExtractor::encode_ready_windows(std::size_t window_end,
                                                       std::size_t mel_frames_total) {
  if (window_end <= windows_encoded_) return Status::ok_status();
  const std::size_t count = window_end - windows_encoded_;
  std::vector<float> windows(count * kWindowSize);
  for (std::size_t j = 0; j < count; ++j) {
    const std::size_t k = windows_encoded_ + j;
    const std::size_t start =
        mel_frames_total > 0 ? window_start(k, mel_frames_total) : window_start_unclamped(k);
    write_window(
        std::span<const double>(mel_rows_).subspan((start - mel_base_) * kMelBins, kWindowSize),
        std::span<float>(windows).subspan(j * kWindowSize, kWindowSize));
  }
  ASSIGN_OR_RETURN(std::vector<float> features, encode_windows(encoder_, windows, count));
  if (windows_encoded_ == 0) {  // F_pad[0] = F[0]
    padded_features_.insert(padded_features_.end(), features.begin(),
                            features.begin() + kFeatureSize);
    padded_rows_known_ = 1;
  }
  padded_features_.insert(padded_features_.end(), features.begin(), features.end());
  padded_rows_known_ += count;
  windows_encoded_ = window_end;
  return Status::ok_status();
}

std::vector<FrameTensor> StreamingFeatureExtractor::emit_frames(std::size_t frame_end) {
  std::vector<FrameTensor> frames;
  for (; next_frame_ < frame_end; ++next_frame_) {
    FrameTensor frame{next_frame_, std::vector<float>(kFrameTensorSize)};
    write_frame_tensor(padded_features_, padded_rows_known_, next_frame_, frame.values,
                       feature_base_);
    frames.push_back(std::move(frame));
  }
  return frames;
}

void StreamingFeatureExtractor::trim() {
  // Mel rows: the next window starts at s_k, or at M-16 >= (final rows)-16 if it is the last.
  const std::size_t mel_frames = mel_.frames_emitted();
  const std::size_t keep_mel =
      mel_frames >= kWindowFrames
          ? std::min(window_start_unclamped(windows_encoded_), mel_frames - kWindowFrames)
          : 0;
  drop_front(mel_rows_, mel_base_, keep_mel, kMelBins);
  // F_pad rows: the next frame reads from row next_frame_-8.
  const std::size_t keep_rows =
      next_frame_ >= kFrameContextBefore ? next_frame_ - kFrameContextBefore : 0;
  drop_front(padded_features_, feature_base_, keep_rows, kFeatureSize);
}

}  // namespace lipsync::audio
