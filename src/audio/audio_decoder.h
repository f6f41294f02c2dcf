// Any audio FFmpeg reads -> 16 kHz mono float samples (pipeline.md §1 input), in-process through
// libavformat/libavcodec/libswresample. Channels are averaged (librosa's to_mono).
//
//   ASSIGN_OR_RETURN(std::vector<float> samples, decode_audio_file("speech.m4a"));
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
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

// Decodes an in-memory file (e.g. an upload); `origin` names it in error messages.
Result<std::vector<float>> decode_audio_bytes(std::span<const std::byte> bytes,
                                              const std::string& origin,
                                              const DecodeOptions& options = {});

// Interleaved float32 PCM at `sample_rate_hz` with `channels` channels -> 16 kHz mono float.
Result<std::vector<float>> convert_pcm(std::span<const float> interleaved, int sample_rate_hz,
                                       int channels, const DecodeOptions& options = {});

// Live interleaved float32 PCM at any rate/channel count -> 16 kHz mono, chunk by chunk (e.g.
// 24 kHz TTS or 48 kHz WebRTC audio feeding StreamingFeatureExtractor). The resampler holds a
// few milliseconds of filter delay, released by flush().
class PcmStreamConverter {
 public:
  static Result<PcmStreamConverter> create(int sample_rate_hz, int channels);
  ~PcmStreamConverter();
  PcmStreamConverter(PcmStreamConverter&&) noexcept;
  PcmStreamConverter& operator=(PcmStreamConverter&&) noexcept;

  // Appends the 16 kHz mono samples available so far to `out`.
  Status push(std::span<const float> interleaved, std::vector<float>& out);
  Status flush(std::vector<float>& out);

 private:
  struct Impl;
  explicit PcmStreamConverter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// `.npy` (1-D float32/float64 samples, already 16 kHz mono) or any FFmpeg-readable file.
Result<std::vector<float>> load_audio(const std::filesystem::path& path,
                                      const DecodeOptions& options = {});

}  // namespace lipsync::audio
