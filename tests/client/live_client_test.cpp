// `lipsync client --live`'s engine against a real server in-process on port 0, the tiny models
// and a synthetic avatar: live sessions opened, spoken to at 1x, interrupted and closed.
#include "client/live_client.h"

#include <gtest/gtest.h>

#include <cmath>

#include "server/server.h"
#include "support/synthetic_avatar.h"
#include "support/synthetic_server_test.h"

namespace lipsync::client {
namespace {

// A 220 Hz tone at 16 kHz mono, its loudness varying at 3 Hz.
std::vector<float> tone(double seconds) {
  std::vector<float> samples(static_cast<std::size_t>(seconds * 16000));
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const double t = static_cast<double>(i) / 16000;
    samples[i] = static_cast<float>(0.2 * std::sin(2 * M_PI * 220 * t) *
                                    (1 + 0.5 * std::sin(2 * M_PI * 3 * t)));
  }
  return samples;
}

class LiveClientTest : public testing::SyntheticServerTest {
 protected:
  void SetUp() override {
    auto server = server::Server::start(testing::synthetic_config(*dir_, {"a"}), {.grpc_port = 0});
    ASSERT_TRUE(server.ok()) << server.status().to_string();
    server_ = std::move(*server);
  }

  LiveClientOptions options() const {
    return {.server = "127.0.0.1:" + std::to_string(server_->grpc_port()),
            .model_id = "a",
            .idle_before_s = 0.3,
            .idle_after_s = 0.3};
  }

  std::unique_ptr<server::Server> server_;
};

TEST_F(LiveClientTest, TwoSessionsSpeakAndAreInterruptedAndEveryFigureIsMeasured) {
  LiveClientOptions o = options();
  o.sessions = 2;
  o.interrupt_after_s = 1.2;
  auto report = run_live(tone(2.0), o);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_EQ(report->failed, 0) << report->sessions.front().error;
  ASSERT_EQ(report->sessions.size(), 2u);
  EXPECT_NE(report->sessions[0].session, report->sessions[1].session);
  for (const auto& s : report->sessions) {
    EXPECT_EQ(s.width, testing::kAvatarWidth);
    EXPECT_GT(s.first_frame_ms, 0);
    // The first speech frame needs the look-ahead's audio, sent at 1x: never before ~440 ms.
    EXPECT_GE(s.speech_to_mouth_ms, s.lookahead_ms - 40) << s.speech_to_mouth_ms;
    EXPECT_GE(s.interrupt_to_idle_ms, 0);
    EXPECT_GT(s.idle_frames, 0);
    EXPECT_GT(s.speech_frames, 0);
    EXPECT_EQ(s.frames, s.idle_frames + s.speech_frames);
  }
  EXPECT_EQ(report->speech_to_mouth_ms.count, 2);
  EXPECT_EQ(report->interrupt_to_idle_ms.count, 2);
  const std::string text = format_live_report(*report, o);
  for (const char* key :
       {"first_frame_ms: p50=", "speech_to_mouth_ms: p50=",
        "speech_to_mouth_over_lookahead_ms: p50=", "interrupt_to_idle_ms: p50=", "frames: "}) {
    EXPECT_NE(text.find(key), std::string::npos) << key << " in\n" << text;
  }
  EXPECT_TRUE(server_->live_sessions() == 0 || server_->live_sessions() == 1);  // closing
}

TEST_F(LiveClientTest, TheWholeClipWithoutInterruptReturnsToIdle) {
  auto report = run_live(tone(1.0), options());
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  const auto& s = report->sessions.front();
  EXPECT_TRUE(s.error.empty()) << s.error;
  EXPECT_LT(s.interrupt_to_idle_ms, 0);
  EXPECT_EQ(report->interrupt_to_idle_ms.count, 0);
  EXPECT_NE(format_live_report(*report, options()).find("interrupt_to_idle_ms: none"),
            std::string::npos);
}

TEST_F(LiveClientTest, AnUnknownModelReportsTheServersError) {
  LiveClientOptions o = options();
  o.model_id = "nobody";
  auto report = run_live(tone(0.5), o);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("nobody"), std::string::npos)
      << report.status().message();
  o.sessions = 0;
  EXPECT_EQ(run_live(tone(0.5), o).status().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace lipsync::client
