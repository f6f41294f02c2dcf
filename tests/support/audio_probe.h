// Reads back the audio stream of a media file for tests: its codec parameters, its packets as
// stored, and its decoded samples (FFmpeg's decoder, interleaved float at the stream's own rate).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/status.h"

namespace lipsync::media::testing {

struct ProbedAudio {
  std::string codec;  // FFmpeg's name: "aac", "pcm_s16le", ...
  int sample_rate_hz = 0;
  int channels = 0;
  std::vector<std::uint8_t> extradata;             // e.g. AAC's AudioSpecificConfig
  std::vector<std::vector<std::uint8_t>> packets;  // in file order
  std::vector<float> samples;                      // decoded, interleaved

  double duration_s() const {
    return static_cast<double>(samples.size()) / channels / sample_rate_hz;
  }
  // Channel `c` of the decoded samples.
  std::vector<float> channel(int c) const;
};

Result<ProbedAudio> probe_audio(const std::filesystem::path& path);

}  // namespace lipsync::media::testing
