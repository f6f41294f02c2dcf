// Writes test audio files in-process with FFmpeg's encoders (no external tools, no data files).
#pragma once

#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"

namespace lipsync::audio::testing {

struct TestAudioFormat {
  std::string encoder;    // FFmpeg encoder name: "pcm_s16le", "libmp3lame", "flac", ...
  std::string extension;  // container chosen by FFmpeg from the file name: ".wav", ".mp3", ...
  int sample_rate_hz = 44100;
  long bit_rate = 0;  // for lossy encoders
};

// 16 kHz mono samples -> interleaved stereo float at `rate_hz`, left = 1.2·x, right = 0.8·x
// (their mean is x again, so a correct downmix gives back the original).
Result<std::vector<float>> to_stereo(std::span<const float> mono_16k, int rate_hz);

// Encodes to_stereo(samples) with the given encoder into `path`.
Status write_test_audio(const std::filesystem::path& path, std::span<const float> mono_16k,
                        const TestAudioFormat& format);

bool encoder_available(const std::string& name);

}  // namespace lipsync::audio::testing
