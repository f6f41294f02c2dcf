#include "live/speech_track.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "core/timeline.h"

namespace lipsync::live {
namespace {

constexpr std::int64_t kSamplesPerFrame = timeline::kSamplesPerFrame;

// Two seconds of digital silence; its middle frame has silence on every side of its context.
constexpr std::int64_t kSilenceClipFrames = 2 * timeline::kFramesPerSecond;

Result<std::vector<float>> features_of_silence(std::shared_ptr<const audio::MelAnalyzer> mel,
                                               audio::FeatureEncoder& encoder) {
  audio::StreamingFeatureExtractor extractor(std::move(mel), encoder);
  const std::vector<float> zeros(static_cast<std::size_t>(kSilenceClipFrames * kSamplesPerFrame));
  ASSIGN_OR_RETURN(std::vector<audio::FrameTensor> frames, extractor.push(zeros));
  ASSIGN_OR_RETURN(std::vector<audio::FrameTensor> rest, extractor.flush());
  frames.insert(frames.end(), std::make_move_iterator(rest.begin()),
                std::make_move_iterator(rest.end()));
  const auto middle = static_cast<std::size_t>(kSilenceClipFrames / 2);
  if (frames.size() <= middle) {
    return make_error(ErrorCode::kInternal, "the encoder gave {} frames for 2 s of silence",
                      frames.size());
  }
  return std::move(frames[middle].values);
}

double rms_dbfs(std::span<const float> samples) {
  if (samples.empty()) return -std::numeric_limits<double>::infinity();
  double sum = 0;
  for (const float s : samples) sum += static_cast<double>(s) * s;
  const double rms = std::sqrt(sum / static_cast<double>(samples.size()));
  return rms > 0 ? 20.0 * std::log10(rms) : -std::numeric_limits<double>::infinity();
}

}  // namespace

Result<std::unique_ptr<SpeechTrack>> SpeechTrack::create(
    std::shared_ptr<const audio::MelAnalyzer> mel, audio::FeatureEncoder& encoder,
    SpeechOptions options) {
  if (std::isnan(options.silence_threshold_dbfs) || options.silence_threshold_dbfs > 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "silence threshold {} dBFS: use a level at or below 0 dBFS (e.g. -45)",
                      options.silence_threshold_dbfs);
  }
  ASSIGN_OR_RETURN(std::vector<float> silence, features_of_silence(mel, encoder));
  return std::unique_ptr<SpeechTrack>(
      new SpeechTrack(std::move(mel), encoder, options, std::move(silence)));
}

SpeechTrack::SpeechTrack(std::shared_ptr<const audio::MelAnalyzer> mel,
                         audio::FeatureEncoder& encoder, SpeechOptions options,
                         std::vector<float> silence)
    : mel_(std::move(mel)), encoder_(encoder), options_(options), silence_(std::move(silence)) {}

Result<std::vector<SpeechFrame>> SpeechTrack::push(std::span<const float> samples) {
  if (samples.empty()) return std::vector<SpeechFrame>{};
  RETURN_IF_ERROR(audio::validate_samples(samples));
  if (!extractor_) {
    extractor_ = std::make_unique<audio::StreamingFeatureExtractor>(mel_, encoder_);
    ++utterance_;
    pcm_.clear();
    pcm_base_ = 0;
    pcm_total_ = 0;
  }
  pcm_.insert(pcm_.end(), samples.begin(), samples.end());
  pcm_total_ += static_cast<std::int64_t>(samples.size());
  auto tensors = extractor_->push(samples);
  if (!tensors.ok()) {
    drop();
    return tensors.status();
  }
  return finish(std::move(*tensors));
}

Result<std::vector<SpeechFrame>> SpeechTrack::end_utterance() {
  if (!extractor_) return std::vector<SpeechFrame>{};
  // An utterance shorter than the encoder's smallest clip is padded with silence, not refused:
  // a short "ok" still moves the mouth.
  if (pcm_total_ < static_cast<std::int64_t>(audio::kMinAudioSamples)) {
    const std::vector<float> pad(audio::kMinAudioSamples - static_cast<std::size_t>(pcm_total_));
    ASSIGN_OR_RETURN(std::vector<SpeechFrame> frames, push(pad));
    if (!frames.empty()) {
      return make_error(ErrorCode::kInternal, "a padded short utterance emitted frames early");
    }
  }
  auto tensors = extractor_->flush();
  if (!tensors.ok()) {
    drop();
    return tensors.status();
  }
  std::vector<SpeechFrame> frames = finish(std::move(*tensors));
  drop();
  return frames;
}

void SpeechTrack::drop() {
  extractor_.reset();
  pcm_.clear();
  pcm_.shrink_to_fit();
  pcm_base_ = 0;
  pcm_total_ = 0;
}

std::vector<SpeechFrame> SpeechTrack::finish(std::vector<audio::FrameTensor> tensors) {
  std::vector<SpeechFrame> frames;
  frames.reserve(tensors.size());
  for (audio::FrameTensor& tensor : tensors) {
    const auto index = static_cast<std::int64_t>(tensor.index);
    SpeechFrame frame{.utterance = utterance_, .index = index};
    frame.gated = gated(index);
    frame.features = frame.gated ? silence_ : std::move(tensor.values);
    frame.pcm.assign(static_cast<std::size_t>(kSamplesPerFrame), 0.0f);
    const std::span<const float> own = samples_of(index);
    std::copy(own.begin(), own.end(), frame.pcm.begin());
    frames.push_back(std::move(frame));
  }
  // Keep the samples the gate of the next frame still reads.
  if (!frames.empty()) {
    const std::int64_t keep_from =
        std::max<std::int64_t>(0, (frames.back().index + 1 - kGateRadiusFrames) * kSamplesPerFrame);
    if (keep_from > pcm_base_) {
      const auto drop_count =
          std::min<std::int64_t>(keep_from - pcm_base_, static_cast<std::int64_t>(pcm_.size()));
      pcm_.erase(pcm_.begin(), pcm_.begin() + drop_count);
      pcm_base_ += drop_count;
    }
  }
  return frames;
}

bool SpeechTrack::gated(std::int64_t frame) const {
  if (options_.silence_threshold_dbfs < -200) return false;
  const std::int64_t first = std::max<std::int64_t>(0, frame - kGateRadiusFrames);
  const std::int64_t begin = std::max(first * kSamplesPerFrame, pcm_base_);
  const std::int64_t end =
      std::min((frame + kGateRadiusFrames + 1) * kSamplesPerFrame, pcm_base_ + std::ssize(pcm_));
  if (end <= begin) return true;  // past the utterance's audio: silence
  const std::span<const float> window(pcm_.data() + (begin - pcm_base_),
                                      static_cast<std::size_t>(end - begin));
  return rms_dbfs(window) < options_.silence_threshold_dbfs;
}

std::span<const float> SpeechTrack::samples_of(std::int64_t frame) const {
  const std::int64_t begin = std::max(frame * kSamplesPerFrame, pcm_base_);
  const std::int64_t end = std::min((frame + 1) * kSamplesPerFrame, pcm_base_ + std::ssize(pcm_));
  if (end <= begin) return {};
  return {pcm_.data() + (begin - pcm_base_), static_cast<std::size_t>(end - begin)};
}

}  // namespace lipsync::live
