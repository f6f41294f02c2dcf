// The one timeline of the pipeline: 16 kHz audio, 25 fps video, 80 mel rows per second, and the
// model's look-ahead. Every module that turns frames into samples or milliseconds reads it here.
// ref: pipeline.md §1-§3.
#pragma once

#include <cstdint>

namespace lipsync::timeline {

inline constexpr int kFramesPerSecond = 25;  // video, input and output
inline constexpr int kSampleRateHz = 16000;  // mono audio the pipeline reads (§1)
inline constexpr std::int64_t kSamplesPerFrame = kSampleRateHz / kFramesPerSecond;  // 640
inline constexpr std::int64_t kFrameIntervalMs = 1000 / kFramesPerSecond;           // 40
static_assert(kSampleRateHz % kFramesPerSecond == 0 && 1000 % kFramesPerSecond == 0,
              "frames must start on whole samples and whole milliseconds");

// Mel analysis (§1): a centred 800-sample FFT frame every 200 samples.
inline constexpr int kMelHopSamples = 200;
inline constexpr int kMelFftSamples = 800;
inline constexpr int kMelRowsPerSecond = kSampleRateHz / kMelHopSamples;  // 80
static_assert(kSampleRateHz % kMelHopSamples == 0);

// One encoder window spans 16 mel rows (§2).
inline constexpr int kEncoderWindowRows = 16;

// The model's look-ahead (§3): how much audio after the start of output frame i the frame depends
// on, worst case over i. Frame i reads F_pad rows up to i+7, i.e. encoder window k = i+6, whose
// mel rows end at floor(3.2k) + 15; mel row t is final once samples up to 200t + 400 (the right
// half of its centred FFT frame) have arrived. floor(3.2k) is at most 640k samples, so frame i
// needs at most 6 frames + 15 hops + half an FFT frame past its start: 3840 + 3000 + 400 samples.
inline constexpr std::int64_t kLookaheadWindows = 6;  // window i+6 for frame i
inline constexpr std::int64_t kLookaheadSamples = kLookaheadWindows * kSamplesPerFrame +
                                                  (kEncoderWindowRows - 1) * kMelHopSamples +
                                                  kMelFftSamples / 2;
static_assert(kLookaheadSamples == 7240);

// The first sample of video frame `frame`.
constexpr std::int64_t frame_to_samples(std::int64_t frame) {
  return frame * kSamplesPerFrame;
}
// The video frame that sample `sample` (≥ 0) falls in.
constexpr std::int64_t samples_to_frames(std::int64_t sample) {
  return sample / kSamplesPerFrame;
}
// The start time of video frame `frame` in milliseconds.
constexpr std::int64_t frame_to_ms(std::int64_t frame) {
  return frame * kFrameIntervalMs;
}
// The duration of `frames` video frames in seconds.
constexpr double frames_to_seconds(std::int64_t frames) {
  return static_cast<double>(frames) / kFramesPerSecond;
}
// The duration of `samples` audio samples in milliseconds.
constexpr double samples_to_ms(std::int64_t samples) {
  return 1000.0 * static_cast<double>(samples) / kSampleRateHz;
}

inline constexpr double kLookaheadMs = samples_to_ms(kLookaheadSamples);  // 452.5

}  // namespace lipsync::timeline
