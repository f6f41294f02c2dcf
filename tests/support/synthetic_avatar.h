// A small synthetic avatar (an MP4 and its crop rects) and a config serving it with the tiny
// test models, for server and scheduler tests.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "core/config.h"

namespace lipsync::testing {

inline constexpr int kAvatarWidth = 160;
inline constexpr int kAvatarHeight = 128;

// Writes avatar.mp4 + crop_rects.json of `frames` frames into `dir`.
void write_synthetic_avatar(const std::filesystem::path& dir, int frames);

// A config with one model per id, each serving the avatar in `avatar_dir` with unet_tiny, and
// encoder_tiny as the audio encoder.
Config synthetic_config(const std::filesystem::path& avatar_dir,
                        const std::vector<std::string>& model_ids);

}  // namespace lipsync::testing
