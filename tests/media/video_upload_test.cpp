// A phone video uploaded as audio (issue 19): client bytes of an MP4 with an H.264 track and an
// AAC track decode to the sound under the client allow-list, which opens no video decoder.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "audio/audio_decoder.h"
#include "support/test_audio_writer.h"
#include "media/video_writer.h"
#include "support/test_paths.h"

namespace lipsync::media {
namespace {

TEST(VideoUpload, AudioOfAnMp4WithVideoDecodesFromBytes) {
  const auto dir = lipsync::testing::temp_dir();
  std::vector<float> tone(16000 * 2);
  for (std::size_t i = 0; i < tone.size(); ++i) tone[i] = 0.3f * std::sin(0.03f * i);
  ASSERT_TRUE(audio::testing::write_test_audio(dir / "upload_sound.wav", tone,
                                               {"pcm_s16le", ".wav", 44100, 0})
                  .ok());
  auto writer = VideoWriter::create(dir / "upload.mp4", {.width = 160, .height = 128});
  ASSERT_TRUE(writer.ok()) << writer.status().to_string();
  ASSERT_TRUE(writer->add_audio_file(dir / "upload_sound.wav").ok());
  Image frame(160, 128);
  for (int t = 0; t < 50; ++t) {  // 2 s at 25 fps
    std::fill(frame.pixels.begin(), frame.pixels.end(), static_cast<std::uint8_t>(40 + 4 * t));
    ASSERT_TRUE(writer->write_frame(frame.view()).ok());
  }
  ASSERT_TRUE(writer->finish().ok());

  std::ifstream in(dir / "upload.mp4", std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  auto samples = audio::decode_audio_bytes(std::as_bytes(std::span(bytes.data(), bytes.size())),
                                           "the uploaded audio");
  ASSERT_TRUE(samples.ok()) << samples.status().to_string();
  EXPECT_NEAR(static_cast<double>(samples->size()), 32000.0, 1600.0);
}

}  // namespace
}  // namespace lipsync::media
