#include "support/synthetic_avatar.h"

#include <gtest/gtest.h>

#include <cmath>

#include "imaging/crop_rects.h"
#include "media/video_writer.h"
#include "support/test_paths.h"

namespace lipsync::testing {

void write_synthetic_avatar(const std::filesystem::path& dir, int frames) {
  auto writer = media::VideoWriter::create(
      dir / "avatar.mp4", {.width = kAvatarWidth, .height = kAvatarHeight, .crf = 12});
  ASSERT_TRUE(writer.ok()) << writer.status().to_string();
  std::vector<Rect> rects;
  for (int t = 0; t < frames; ++t) {
    Image image(kAvatarWidth, kAvatarHeight);
    for (int y = 0; y < kAvatarHeight; ++y) {
      for (int x = 0; x < kAvatarWidth; ++x) {
        std::uint8_t* p =
            image.pixels.data() + (static_cast<std::size_t>(y) * kAvatarWidth + x) * 3;
        p[0] = static_cast<std::uint8_t>(40 + x + 3 * t);
        p[1] = static_cast<std::uint8_t>(60 + y);
        p[2] = static_cast<std::uint8_t>(128 + 60 * std::sin((x + y) * 0.05));
      }
    }
    ASSERT_TRUE(writer->write_frame(image.view()).ok());
    rects.push_back({40 + t % 3, 24, 120 + t % 3, 104});
  }
  ASSERT_TRUE(writer->finish().ok());
  ASSERT_TRUE(imaging::write_rects_json(dir / "crop_rects.json", rects).ok());
}

Config synthetic_config(const std::filesystem::path& avatar_dir,
                        const std::vector<std::string>& model_ids) {
  Config config;
  config.runtime.audio_encoder_path = test_models_dir() / "encoder_tiny.onnx";
  config.runtime.intra_op_threads = 1;
  config.server.http_enabled = false;  // HTTP off unless a test asks for it
  for (const auto& id : model_ids) {
    ModelConfig model;
    model.model_id = id;
    model.model_path = test_models_dir() / "unet_tiny.onnx";
    model.source_video = avatar_dir / "avatar.mp4";
    model.crop_rects_path = avatar_dir / "crop_rects.json";
    config.models[id] = model;
  }
  return config;
}

}  // namespace lipsync::testing
