// Internal to `audio`: one input format -> 16 kHz mono float (libswresample with soxr), appended
// to a caller's vector that never grows past a length limit plus one conversion step, however
// many samples the input claims. Input is converted in steps of kStepFrames frames, so each
// step's output is bounded before it is allocated.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "audio/audio_decoder.h"
#include "core/status.h"
#include "ffmpeg/handles.h"

namespace lipsync::audio::detail {

class Resampler {
 public:
  // Errors (INVALID_ARGUMENT) for a rate or channel count outside the accepted ranges.
  static Result<Resampler> create(const AVChannelLayout& layout, AVSampleFormat format,
                                  int sample_rate_hz, std::size_t max_samples,
                                  DecodeCounters* counters);

  // Appends the output of `frames` input frames at `data` (FFmpeg plane pointers in the input
  // format); nullptr/0 drains the filter delay. Errors once `out` passes the length limit.
  Status convert(const std::uint8_t* const* data, int frames, std::vector<float>& out);
  Status drain(std::vector<float>& out) { return convert(nullptr, 0, out); }
  int input_rate_hz() const { return input_rate_hz_; }
  // Frames must keep the rate, sample format and channel count the resampler was made for:
  // swresample reads the planes of the first frame's layout (a frame with fewer planes made it
  // read a null pointer: found by fuzz/audio_decode).
  Status check_same_input(int sample_rate_hz, AVSampleFormat format, int channels) const;

 private:
  Resampler(ffmpeg::SwrPtr swr, AVSampleFormat format, int channels, int input_rate_hz,
            std::size_t max_samples, DecodeCounters* counters);
  Status step(const std::uint8_t* const* data, int frames, std::vector<float>& out);
  void reserve(std::vector<float>& out, std::size_t needed) const;

  ffmpeg::SwrPtr swr_;
  AVSampleFormat format_;
  int channels_ = 0;
  int input_rate_hz_ = 0;
  std::size_t max_samples_ = 0;
  DecodeCounters* counters_ = nullptr;
};

}  // namespace lipsync::audio::detail
