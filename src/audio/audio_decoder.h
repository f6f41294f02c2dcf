// Any audio FFmpeg reads -> 16 kHz mono float samples (pipeline.md §1 input), in-process through
// libavformat/libavcodec/libswresample. Channels are averaged (librosa's to_mono).
//
//   ASSIGN_OR_RETURN(std::vector<float> samples, decode_audio_file("speech.m4a"));
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>
#include <vector>

#include "core/status.h"

namespace lipsync::audio {

struct DecodeOptions {
  // Longer inputs are refused (while decoding, before the memory is spent). Default 6 hours.
  double max_duration_s = 6.0 * 3600.0;
};

// Decodes the best audio stream of a file to 16 kHz mono float.
Result<std::vector<float>> decode_audio_file(const std::filesystem::path& path,
                                             const DecodeOptions& options = {});

// Interleaved float32 PCM at `sample_rate_hz` with `channels` channels -> 16 kHz mono float.
Result<std::vector<float>> convert_pcm(std::span<const float> interleaved, int sample_rate_hz,
                                       int channels, const DecodeOptions& options = {});

// `.npy` (1-D float32/float64 samples, already 16 kHz mono) or any FFmpeg-readable file.
Result<std::vector<float>> load_audio(const std::filesystem::path& path,
                                      const DecodeOptions& options = {});

}  // namespace lipsync::audio
