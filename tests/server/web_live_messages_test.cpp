// The /ws/live client messages without a server (server/web_live_messages.h); the connection's
// answers to them are web_live_test.cpp's.
#include "server/web_live_messages.h"

#include <gtest/gtest.h>

#include <string>

namespace lipsync::server {
namespace {

using Kind = LiveCommand::Kind;

http::WebSocketMessage text(std::string data) {
  return {.binary = false, .data = std::move(data)};
}

std::string error_of(const Status& status) {
  EXPECT_EQ(status.code(), ErrorCode::kInvalidArgument) << status.to_string();
  return status.message();
}

TEST(LiveOpening, OpensJoinsAndReadsThePcmFormat) {
  auto opening = parse_live_opening(text(
      R"({"model": "a", "idle": "source", "format": "f32", "sample_rate": 48000, "channels": 2,
          "silence_threshold_dbfs": -30})"));
  ASSERT_TRUE(opening.ok()) << opening.status().to_string();
  ASSERT_TRUE(opening->open.has_value());
  EXPECT_EQ(opening->open->model_id, "a");
  EXPECT_EQ(opening->open->idle, live::IdleMode::kSource);
  EXPECT_EQ(opening->open->speech.silence_threshold_dbfs, -30.0);
  EXPECT_EQ(opening->format, PcmFormat::kF32);
  EXPECT_EQ(opening->sample_rate_hz, 48000);
  EXPECT_EQ(opening->channels, 2);

  auto join = parse_live_opening(text(R"({"join": "0123"})"));
  ASSERT_TRUE(join.ok()) << join.status().to_string();
  EXPECT_FALSE(join->open.has_value());
  EXPECT_EQ(join->join, "0123");
  EXPECT_EQ(join->format, PcmFormat::kS16);
  EXPECT_EQ(join->sample_rate_hz, timeline::kSampleRateHz);
}

TEST(LiveOpening, BadOpeningsNameTheField) {
  EXPECT_NE(error_of(parse_live_opening({.binary = true, .data = R"({"model": "a"})"}).status())
                .find("JSON text"),
            std::string::npos);
  EXPECT_NE(error_of(parse_live_opening(text("[1, 2")).status()).find("JSON text"),
            std::string::npos);
  EXPECT_NE(error_of(parse_live_opening(text("{}")).status()).find("\"model\""), std::string::npos);
  EXPECT_NE(error_of(parse_live_opening(text(R"({"model": 7})")).status()).find("\"model\""),
            std::string::npos);
  EXPECT_NE(error_of(parse_live_opening(text(R"({"model": "a", "sample_rate": 1})")).status())
                .find("\"sample_rate\""),
            std::string::npos);
  EXPECT_NE(error_of(parse_live_opening(text(R"({"model": "a", "channels": 2.5})")).status())
                .find("\"channels\""),
            std::string::npos);
  EXPECT_NE(error_of(parse_live_opening(text(R"({"model": "a", "format": "u8"})")).status())
                .find("\"format\""),
            std::string::npos);
  EXPECT_NE(
      error_of(parse_live_opening(text(R"({"model": "a", "silence_threshold_dbfs": 3})")).status())
          .find("silence_threshold_dbfs"),
      std::string::npos);
}

TEST(LiveCommand, InterruptEndAndWebRtcSignals) {
  EXPECT_EQ(parse_live_command(R"({"interrupt": true})")->kind, Kind::kInterrupt);
  EXPECT_EQ(parse_live_command(R"({"end": true})")->kind, Kind::kEnd);
  EXPECT_EQ(parse_live_command(R"({"interrupt": false, "end": true})")->kind, Kind::kEnd);
  EXPECT_EQ(parse_live_command(R"({"type": "webrtc-start"})")->kind, Kind::kWebRtcStart);
  EXPECT_EQ(parse_live_command(R"({"type": "webrtc-stop"})")->kind, Kind::kWebRtcStop);

  auto answer = parse_live_command(R"({"type": "webrtc-answer", "sdp": "v=0"})");
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer->kind, Kind::kWebRtcAnswer);
  EXPECT_EQ(answer->sdp, "v=0");
  EXPECT_TRUE(answer->problem.ok());

  auto candidate = parse_live_command(
      R"({"type": "webrtc-candidate", "candidate": "candidate:1", "sdpMLineIndex": 1})");
  ASSERT_TRUE(candidate.ok());
  EXPECT_EQ(candidate->kind, Kind::kWebRtcCandidate);
  EXPECT_EQ(candidate->candidate, "candidate:1");
  EXPECT_EQ(candidate->sdp_mline_index, 1);
  EXPECT_TRUE(candidate->problem.ok());
}

// {"interrupt": 1} threw from json::value and ended the connection (issue 19; seen while writing
// its fuzz target).
TEST(LiveCommand, OnlyTheBooleanTrueInterruptsOrEnds) {
  for (const char* message :
       {R"({"interrupt": 1})", R"({"end": "yes"})", R"({"end": null})", R"({"interrupt": false})",
        R"({"dance": true})", "[true]", "{", "\"interrupt\"", ""}) {
    const auto parsed = parse_live_command(message);
    ASSERT_FALSE(parsed.ok()) << message;
    EXPECT_NE(error_of(parsed.status()).find("unknown message"), std::string::npos) << message;
  }
}

TEST(LiveCommand, BadWebRtcSignalsSayWhy) {
  auto not_text = parse_live_command(R"({"type": 3})");
  ASSERT_TRUE(not_text.ok());
  EXPECT_EQ(not_text->kind, Kind::kWebRtcRefused);
  EXPECT_NE(error_of(not_text->problem).find("\"type\""), std::string::npos);

  auto unknown = parse_live_command(R"({"type": "webrtc-dance"})");
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->kind, Kind::kWebRtcRefused);
  EXPECT_NE(error_of(unknown->problem).find("unknown \"type\""), std::string::npos);

  auto no_sdp = parse_live_command(R"({"type": "webrtc-answer", "sdp": 1})");
  ASSERT_TRUE(no_sdp.ok());
  EXPECT_EQ(no_sdp->kind, Kind::kWebRtcAnswer);
  EXPECT_NE(error_of(no_sdp->problem).find("\"sdp\""), std::string::npos);

  auto no_index = parse_live_command(R"({"type": "webrtc-candidate", "candidate": "c"})");
  ASSERT_TRUE(no_index.ok());
  EXPECT_EQ(no_index->kind, Kind::kWebRtcCandidate);
  EXPECT_NE(error_of(no_index->problem).find("sdpMLineIndex"), std::string::npos);
}

TEST(LivePcm, LittleEndianS16AndF32InWholeSamples) {
  const std::string s16("\x00\x80\xff\x7f\x00\x00", 6);
  auto samples = live_pcm_samples(s16, PcmFormat::kS16, 1);
  ASSERT_TRUE(samples.ok());
  ASSERT_EQ(samples->size(), 3u);
  EXPECT_EQ((*samples)[0], -1.0f);
  EXPECT_EQ((*samples)[1], 32767.0f / 32768.0f);
  EXPECT_EQ((*samples)[2], 0.0f);

  const std::string f32("\x00\x00\x80\x3f\x00\x00\x00\xbf", 8);  // 1.0, -0.5
  samples = live_pcm_samples(f32, PcmFormat::kF32, 2);
  ASSERT_TRUE(samples.ok());
  ASSERT_EQ(samples->size(), 2u);
  EXPECT_EQ((*samples)[0], 1.0f);
  EXPECT_EQ((*samples)[1], -0.5f);

  EXPECT_TRUE(live_pcm_samples("", PcmFormat::kS16, 1)->empty());
  EXPECT_NE(error_of(live_pcm_samples(s16, PcmFormat::kS16, 2).status()).find("whole number"),
            std::string::npos);
  EXPECT_NE(error_of(live_pcm_samples(s16, PcmFormat::kF32, 1).status()).find("whole number"),
            std::string::npos);
}

}  // namespace
}  // namespace lipsync::server
