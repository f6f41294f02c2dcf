// The compat API's request audio -> one [32, 16, 16] UNet audio tensor per frame of a batch,
// computed on the clip's global timeline (compat-api.md "Audio alignment", pipeline.md §1-3).
//
//   CompatAudio audio{.raw_audio = pcm, .start_frame = 100, .frame_count = 25};
//   ASSIGN_OR_RETURN(std::vector<float> tensors, compat_frame_tensors(audio, *mel, *encoder));
//
// raw_audio is placed at sample audio_start_frame·640 of the clip (default: the older clients'
// 8-frame lead, max(0, start_frame - 8)); audio outside it counts as silence (zeros), so short,
// empty or late audio never fails, and the features of frames away from the request's audio
// edges equal those of the whole clip.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "audio/audio_features.h"
#include "audio/mel_spectrogram.h"
#include "core/status.h"
#include "core/timeline.h"

namespace lipsync::pipeline {

// The older clients send raw_audio starting this many frames before start_frame_idx.
inline constexpr std::int64_t kCompatAudioLeadFrames = 8;

struct CompatAudio {
  std::span<const float> raw_audio;        // mono PCM at sample_rate_hz; may be empty
  int sample_rate_hz = 0;                  // 0 = 16000; others are resampled
  std::span<const float> legacy_features;  // empty or one [32,16,16] tensor for every frame
  std::int64_t start_frame = 0;            // clip frame of the first output frame (may be < 0)
  std::optional<std::int64_t> audio_start_frame;  // clip frame where raw_audio starts
  std::size_t frame_count = 0;
};

// The clip frame where raw_audio starts: audio_start_frame or max(0, start_frame - 8).
std::int64_t audio_start_frame(const CompatAudio& request);

// [frame_count, 32, 16, 16]. Uses legacy_features when raw_audio is empty. INVALID_ARGUMENT,
// before any resampling, when both are empty, when legacy_features is not 8192 floats, for a
// rate outside audio::kMinInputRateHz..kMaxInputRateHz, raw_audio longer than
// audio::kMaxClientAudioSeconds, or a non-finite sample.
Result<std::vector<float>> compat_frame_tensors(const CompatAudio& request,
                                                const audio::MelAnalyzer& mel,
                                                audio::FeatureEncoder& encoder);

}  // namespace lipsync::pipeline
