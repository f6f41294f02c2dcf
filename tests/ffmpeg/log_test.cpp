// FFmpeg's own log lines go through the facade at its level (issue 18: "[mp3float @ 0x...]"
// lines bypassed --log-level).
#include "ffmpeg/log.h"

#include <gtest/gtest.h>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/log.h>
}

#include <string>

namespace lipsync::ffmpeg {
namespace {

class FfmpegLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    route_log_to_facade();
    saved_ = log::level();
  }
  void TearDown() override { log::set_level(saved_); }

  // What FFmpeg's av_log printed (through the facade) at facade level `level`.
  template <typename... Args>
  static std::string logged(log::Level level, void* object, int ffmpeg_level, const char* format,
                            Args... args) {
    log::set_level(level);
    ::testing::internal::CaptureStderr();
    av_log(object, ffmpeg_level, format, args...);
    return ::testing::internal::GetCapturedStderr();
  }

  log::Level saved_ = log::Level::kInfo;
};

TEST_F(FfmpegLogTest, LevelsMapOntoTheFacade) {
  EXPECT_EQ(facade_level(AV_LOG_FATAL), log::Level::kWarn);
  EXPECT_EQ(facade_level(AV_LOG_ERROR), log::Level::kWarn);
  EXPECT_EQ(facade_level(AV_LOG_WARNING), log::Level::kDebug);
  EXPECT_EQ(facade_level(AV_LOG_INFO), log::Level::kDebug);
  EXPECT_EQ(facade_level(AV_LOG_VERBOSE), log::Level::kTrace);
}

TEST_F(FfmpegLogTest, LinesFollowTheConfiguredLevel) {
  EXPECT_EQ(logged(log::Level::kInfo, nullptr, AV_LOG_WARNING, "a warning %d\n", 1), "");
  EXPECT_EQ(logged(log::Level::kError, nullptr, AV_LOG_ERROR, "an error\n"), "");
  EXPECT_EQ(logged(log::Level::kOff, nullptr, AV_LOG_FATAL, "fatal\n"), "");
  const std::string shown = logged(log::Level::kInfo, nullptr, AV_LOG_ERROR, "an error %s\n", "x");
  EXPECT_NE(shown.find("ffmpeg"), std::string::npos) << shown;
  EXPECT_NE(shown.find("an error x"), std::string::npos) << shown;
  EXPECT_NE(shown.find(" W "), std::string::npos) << shown;  // as a warning
}

// The object's name replaces FFmpeg's "[name @ 0xADDRESS]" prefix; a line written in parts is
// one log line.
TEST_F(FfmpegLogTest, NamesTheObjectAndJoinsParts) {
  const AVCodec* codec = avcodec_find_decoder(AV_CODEC_ID_MP3);
  ASSERT_NE(codec, nullptr);
  AVCodecContext* context = avcodec_alloc_context3(codec);
  ASSERT_NE(context, nullptr);
  log::set_level(log::Level::kDebug);
  ::testing::internal::CaptureStderr();
  av_log(context, AV_LOG_WARNING, "Could not update timestamps ");
  av_log(context, AV_LOG_WARNING, "for skipped samples.\n");
  const std::string text = ::testing::internal::GetCapturedStderr();
  avcodec_free_context(&context);
  EXPECT_NE(text.find(std::string(codec->name) + ": Could not update timestamps for skipped "
                                                 "samples."),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("@ 0x"), std::string::npos) << text;
  EXPECT_EQ(text.find('\n'), text.size() - 1) << text;  // one line
}

}  // namespace
}  // namespace lipsync::ffmpeg
