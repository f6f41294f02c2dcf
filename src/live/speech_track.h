// The speech of a live session: 16 kHz mono audio pushed at any time and rate, turned into the
// per-frame mouth inputs of the UNet, one utterance at a time.
//
// An utterance starts with the first samples pushed while none is open and ends when the
// session says so (end of speech, a gap in the audio, an interruption). Within it, frames come
// out as soon as the audio they depend on has arrived (audio::StreamingFeatureExtractor: the
// model's look-ahead, 452.5 ms); the end flushes the rest. Each frame carries its own 40 ms of
// audio, so whoever plays the frames plays the sound that goes with them.
//
// Silence gating: a frame whose neighbourhood (itself and kGateRadiusFrames frames either side,
// 200 ms) is quieter than `silence_threshold_dbfs` (RMS, 0 dBFS = full scale) gets the features
// of digital silence instead of its own, so the mouth stays closed on breath and room noise.
//
//   ASSIGN_OR_RETURN(auto track, SpeechTrack::create(mel, encoder, {}));
//   ASSIGN_OR_RETURN(std::vector<SpeechFrame> frames, track->push(samples));
//   ASSIGN_OR_RETURN(std::vector<SpeechFrame> rest, track->end_utterance());
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "audio/audio_features.h"
#include "audio/mel_spectrogram.h"
#include "audio/streaming_extractor.h"
#include "core/status.h"

namespace lipsync::live {

// The gate looks at a frame and this many frames either side.
inline constexpr std::int64_t kGateRadiusFrames = 2;
// Below this RMS level (dBFS) a frame's neighbourhood counts as silence. Speech is typically
// -30..-10 dBFS, a quiet room through a microphone -60..-50.
inline constexpr double kDefaultSilenceThresholdDbfs = -45.0;

struct SpeechOptions {
  double silence_threshold_dbfs = kDefaultSilenceThresholdDbfs;  // -inf (or < -200): no gating
};

struct SpeechFrame {
  std::int64_t utterance = 0;   // 1, 2, ... in the order utterances started
  std::int64_t index = 0;       // the frame within its utterance
  std::vector<float> features;  // the UNet's audio input [32, 16, 16]
  std::vector<float> pcm;       // its 640 samples (zero past the utterance's end)
  bool gated = false;           // silent neighbourhood: `features` are those of silence
};

class SpeechTrack {
 public:
  // Computes the features of silence once (one short encoder run).
  static Result<std::unique_ptr<SpeechTrack>> create(std::shared_ptr<const audio::MelAnalyzer> mel,
                                                     audio::FeatureEncoder& encoder,
                                                     SpeechOptions options);

  // Appends samples (finite, 16 kHz mono) to the open utterance, opening one if none is open.
  // Returns the frames that became computable, in order.
  Result<std::vector<SpeechFrame>> push(std::span<const float> samples);
  // Ends the open utterance (if any) and returns its remaining frames.
  Result<std::vector<SpeechFrame>> end_utterance();
  // Drops the open utterance and its pending audio (an interruption).
  void drop();

  bool open() const { return extractor_ != nullptr; }
  std::int64_t utterances() const { return utterance_; }
  // The UNet audio input of a frame in the middle of digital silence.
  const std::vector<float>& silence_features() const { return silence_; }

 private:
  SpeechTrack(std::shared_ptr<const audio::MelAnalyzer> mel, audio::FeatureEncoder& encoder,
              SpeechOptions options, std::vector<float> silence);
  std::vector<SpeechFrame> finish(std::vector<audio::FrameTensor> tensors);
  bool gated(std::int64_t frame) const;
  std::span<const float> samples_of(std::int64_t frame) const;

  std::shared_ptr<const audio::MelAnalyzer> mel_;
  audio::FeatureEncoder& encoder_;
  SpeechOptions options_;
  std::vector<float> silence_;
  std::unique_ptr<audio::StreamingFeatureExtractor> extractor_;  // null: no open utterance
  std::int64_t utterance_ = 0;
  std::vector<float> pcm_;      // the open utterance's samples from pcm_base_
  std::int64_t pcm_base_ = 0;   // utterance sample index of pcm_[0]
  std::int64_t pcm_total_ = 0;  // samples pushed into the open utterance
};

}  // namespace lipsync::live
