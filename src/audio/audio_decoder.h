// Audio files, client bytes and PCM -> 16 kHz mono float samples (pipeline.md §1 input),
// in-process through libavformat/libavcodec/libswresample. Channels are averaged (librosa's
// to_mono). Client bytes are read under ffmpeg::client_media_policy() (input.h) and every input
// is held to the same limits before work: docs/security.md.
//
//   ASSIGN_OR_RETURN(std::vector<float> samples, decode_audio_file("speech.m4a"));
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "audio/mel_spectrogram.h"
#include "core/status.h"

namespace lipsync::audio {

// One rule for every input, PCM or encoded: telephone 8 kHz to studio 192 kHz. Lower rates
// would turn a few bytes into long audio (a 1 Hz header makes 16 000 output samples of each
// input sample).
inline constexpr int kMinInputRateHz = 8000;
inline constexpr int kMaxInputRateHz = 192000;
inline constexpr int kMaxInputChannels = 64;

// INVALID_ARGUMENT naming `what` ("PCM", "audio.encoded") when the rate or channel count is
// outside the ranges above.
Status check_input_format(int sample_rate_hz, int channels, std::string_view what);

// Input frames per resampler call, and the most 16 kHz samples one call may add: twice the step
// (8 -> 16 kHz) plus the filter's delay.
inline constexpr int kResampleStepFrames = 4096;
inline constexpr std::size_t kMaxResampleStepSamples = 3 * kResampleStepFrames;

// Longest audio a client request may carry: a native Render (30 min = 45 000 frames); the
// browser page accepts 10 min, a compat batch's audio is a few seconds.
inline constexpr double kMaxClientAudioSeconds = 1800.0;

// Bytes the 16 kHz output of one decode may occupy: its length limit plus one resampler step,
// as float32. Decoding stops at the limit; the output never grows past this.
constexpr std::size_t decoded_audio_budget_bytes(double max_duration_s) {
  return (static_cast<std::size_t>(max_duration_s * kSampleRateHz) + kMaxResampleStepSamples) *
         sizeof(float);
}
// Per client request: 1800 s x 16 000 /s x 4 B = 115.2 MB (+ 48 KB for a step). Growing the
// vector may briefly hold the previous half-size buffer as well.
inline constexpr std::size_t kClientAudioBudgetBytes =
    decoded_audio_budget_bytes(kMaxClientAudioSeconds);

// What a decode did (tests and fuzzers check that refused inputs cost nothing).
struct DecodeCounters {
  std::int64_t bytes_read = 0;        // input bytes the demuxer read
  std::int64_t packets_decoded = 0;   // audio packets sent to the decoder
  std::size_t peak_output_bytes = 0;  // largest capacity of the 16 kHz output buffer
};

struct DecodeOptions {
  // Longer inputs are refused: from the container's declared duration before decoding, else
  // while decoding, before the memory is spent. Default 6 hours (files); client bytes are held
  // to kMaxClientAudioSeconds at most.
  double max_duration_s = 6.0 * 3600.0;
  DecodeCounters* counters = nullptr;  // filled in when set, also on errors
};

// Decodes the best audio stream of a file to 16 kHz mono float.
Result<std::vector<float>> decode_audio_file(const std::filesystem::path& path,
                                             const DecodeOptions& options = {});

// Decodes a client's in-memory file (an upload, audio.encoded) under the client allow-list;
// `origin` names it in error messages. Every error is INVALID_ARGUMENT (the bytes are the
// client's) except RESOURCE_EXHAUSTED for memory.
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
