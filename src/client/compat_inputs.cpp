#include "client/compat_inputs.h"

#include <algorithm>

#include "core/timeline.h"

namespace lipsync::client {

std::vector<float> compat_raw_audio(std::span<const float> clip, int start_frame, int batch_size) {
  // ref: compat-api.md "Audio alignment"
  const long long first_frame = std::max(0, start_frame - kCompatAudioLeadFrames);
  const std::size_t length =
      static_cast<std::size_t>(timeline::frame_to_samples(batch_size + kCompatAudioExtraFrames));
  std::vector<float> samples(length, 0.0f);
  const auto offset = static_cast<std::size_t>(timeline::frame_to_samples(first_frame));
  if (offset < clip.size()) {
    const std::size_t available = std::min(length, clip.size() - offset);
    std::copy_n(clip.begin() + static_cast<std::ptrdiff_t>(offset), available, samples.begin());
  }
  return samples;
}

Result<std::vector<float>> compat_visual_frames(const avatar::Avatar& avatar, int start_frame,
                                                int batch_size) {
  const std::size_t per_frame = avatar.geometry().input_tensor_elements();
  const auto count = static_cast<long long>(avatar.frame_count());
  if (count == 0) return make_error(ErrorCode::kInvalidArgument, "the avatar has no frames");
  std::vector<float> tensors(per_frame * static_cast<std::size_t>(batch_size));
  for (int i = 0; i < batch_size; ++i) {
    const long long index = ((static_cast<long long>(start_frame) + i) % count + count) % count;
    RETURN_IF_ERROR(avatar.fill_input_tensor(static_cast<std::size_t>(index),
                                             std::span(tensors).subspan(i * per_frame, per_frame)));
  }
  return tensors;
}

}  // namespace lipsync::client
