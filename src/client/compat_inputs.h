// What an older (compat-API) client sends beside the clip: the raw_audio window and the
// visual_frames tensors of a batch, as compat-api.md defines them. Used by the load client and
// its tests.
#pragma once

#include <span>
#include <vector>

#include "avatar/avatar.h"
#include "core/status.h"

namespace lipsync::client {

// ref: compat-api.md "Audio alignment": raw_audio starts 8 frames before start_frame_idx
// (clamped at 0) and is (batch + 15) video frames long (core/timeline.h: 640 samples each).
inline constexpr int kCompatAudioLeadFrames = 8;
inline constexpr int kCompatAudioExtraFrames = 15;

// The raw_audio an older client sends for a batch starting at `start_frame`: `clip` (16 kHz
// mono) from frame max(0, start_frame - 8), (batch_size + 15) * 640 samples, zero-padded past
// the end of the clip.
std::vector<float> compat_raw_audio(std::span<const float> clip, int start_frame, int batch_size);

// The visual_frames of a batch: float32 [batch_size][6][320][320], frame i from source frame
// (start_frame + i) mod frame_count (non-negative).
Result<std::vector<float>> compat_visual_frames(const avatar::Avatar& avatar, int start_frame,
                                                int batch_size);

}  // namespace lipsync::client
