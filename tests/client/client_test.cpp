// The compat client (`lipsync client`'s engine) against a real server in-process on port 0, the
// tiny models and a synthetic avatar.
#include "client/client.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <random>

#include "client/compat_inputs.h"
#include "client/percentile.h"
#include "media/jpeg_codec.h"
#include "server/server.h"
#include "support/synthetic_avatar.h"
#include "support/synthetic_server_test.h"
#include "support/test_paths.h"

namespace lipsync::client {
namespace {

namespace fs = std::filesystem;

constexpr int kFrames = testing::SyntheticServerTest::kFrames;

std::vector<float> ramp(std::size_t samples) {
  std::vector<float> clip(samples);
  for (std::size_t i = 0; i < samples; ++i) clip[i] = static_cast<float>(i + 1);  // exact
  return clip;
}

TEST(CompatRawAudio, StartsEightFramesBeforeTheBatchWithFifteenExtraFrames) {
  const auto clip = ramp(100 * 640);
  const auto audio = compat_raw_audio(clip, 20, 5);
  ASSERT_EQ(audio.size(), std::size_t{20} * 640);  // (5 + 15) frames
  for (std::size_t i = 0; i < audio.size(); ++i) ASSERT_EQ(audio[i], clip[12 * 640 + i]) << i;
}

TEST(CompatRawAudio, ClampsAtTheClipStartAndZeroPadsPastItsEnd) {
  const auto clip = ramp(30 * 640);
  const auto early = compat_raw_audio(clip, 3, 2);  // max(0, 3 - 8) = 0
  ASSERT_EQ(early.size(), std::size_t{17} * 640);
  EXPECT_EQ(early.front(), clip.front());
  EXPECT_EQ(early.back(), clip[17 * 640 - 1]);
  const auto late = compat_raw_audio(clip, 28, 5);  // from frame 20: 10 frames, then zeros
  ASSERT_EQ(late.size(), std::size_t{20} * 640);
  EXPECT_EQ(late[0], clip[20 * 640]);
  EXPECT_EQ(late[10 * 640 - 1], clip.back());
  for (std::size_t i = 10 * 640; i < late.size(); ++i) ASSERT_EQ(late[i], 0.0f) << i;
  const auto beyond = compat_raw_audio(clip, 500, 1);
  EXPECT_EQ(beyond, std::vector<float>(16 * 640, 0.0f));
}

TEST(ClientPercentile, InterpolatesBetweenRanks) {
  EXPECT_EQ(percentile({}, 50), 0.0);
  EXPECT_EQ(percentile({7}, 99), 7.0);
  EXPECT_DOUBLE_EQ(percentile({4, 1, 3, 2}, 50), 2.5);
  EXPECT_DOUBLE_EQ(percentile({1, 2, 3, 4, 5}, 100), 5.0);
  EXPECT_DOUBLE_EQ(percentile({1, 2, 3, 4, 5}, 95), 4.8);
}

class ClientTest : public testing::SyntheticServerTest {
 protected:
  void SetUp() override {
    auto server = server::Server::start(testing::synthetic_config(*dir_, {"a"}), {.grpc_port = 0});
    ASSERT_TRUE(server.ok()) << server.status().to_string();
    server_ = std::move(*server);
  }

  ClientOptions options(int batch) const {
    return {.server = "127.0.0.1:" + std::to_string(server_->grpc_port()),
            .model_id = "a",
            .batch_size = batch};
  }

  std::unique_ptr<server::Server> server_;
};

TEST_F(ClientTest, ConcurrentRunReturnsEveryFrameAndSavesThem) {
  const fs::path save = testing::temp_dir() / "frames";
  ClientOptions o = options(4);
  o.concurrency = 2;
  o.requests = 3;
  o.start_frame = 2;
  o.save_dir = save;
  auto report = run_client(testing::noise(3 * 16000, 11), o);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_EQ(report->requests, 3);
  EXPECT_EQ(report->succeeded, 3);
  EXPECT_EQ(report->failed, 0);
  EXPECT_TRUE(report->errors.empty());
  EXPECT_EQ(report->frames, 12);
  EXPECT_GT(report->frames_per_s, 0.0);
  EXPECT_GT(report->mean_stage.inference_ms, 0.0);
  EXPECT_GT(report->mean_stage.composite_ms, 0.0);
  EXPECT_GT(report->mean_stage.audio_processing_ms, 0.0);
  EXPECT_GE(report->mean_stage.total_ms, report->mean_stage.inference_ms);
  EXPECT_GT(report->latency_p50_ms, 0.0);
  EXPECT_LE(report->latency_p50_ms, report->latency_p95_ms);
  EXPECT_LE(report->latency_p95_ms, report->latency_p99_ms);
  EXPECT_LE(report->latency_p99_ms, report->wall_s * 1000.0);
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(save)) ++files;
  EXPECT_EQ(files, 12u);
  for (int frame = 2; frame < 14; ++frame) {  // global frame indices start_frame..start+11
    const std::string jpeg = testing::read_file(save / fmt::format("frame_{:06d}.jpg", frame));
    auto image = media::decode_jpeg(
        std::span(reinterpret_cast<const std::uint8_t*>(jpeg.data()), jpeg.size()));
    ASSERT_TRUE(image.ok()) << "frame " << frame << ": " << image.status().to_string();
    EXPECT_EQ(image->width, testing::kAvatarWidth);
    EXPECT_EQ(image->height, testing::kAvatarHeight);
  }
}

TEST_F(ClientTest, VisualFramesFromTheAvatarGiveTheServersOwnFrames) {
  auto avatar = avatar::Avatar::load(
      {.video_path = *dir_ / "avatar.mp4", .rects_path = *dir_ / "crop_rects.json"});
  ASSERT_TRUE(avatar.ok()) << avatar.status().to_string();
  const auto clip = testing::noise(2 * 16000, 11);
  ClientOptions plain = options(3);
  plain.start_frame = kFrames - 1;  // the batch wraps around the avatar
  plain.save_dir = testing::temp_dir() / "plain";
  ClientOptions visual = plain;
  visual.avatar = *avatar;
  visual.save_dir = testing::temp_dir() / "visual";
  ASSERT_TRUE(run_client(clip, plain).ok());
  auto report = run_client(clip, visual);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_EQ(report->frames, 3);
  for (int frame = kFrames - 1; frame < kFrames + 2; ++frame) {
    const std::string name = fmt::format("frame_{:06d}.jpg", frame);
    const std::string a = testing::read_file(plain.save_dir / name);
    EXPECT_FALSE(a.empty()) << name;
    EXPECT_EQ(a, testing::read_file(visual.save_dir / name)) << name;
  }
}

TEST_F(ClientTest, UnknownModelReportsTheServersError) {
  ClientOptions o = options(2);
  o.model_id = "nobody";
  o.requests = 2;
  auto report = run_client(testing::noise(16000, 11), o);
  ASSERT_FALSE(report.ok());
  const std::string message = report.status().to_string();
  EXPECT_NE(message.find("all 2 request(s)"), std::string::npos) << message;
  EXPECT_NE(message.find("nobody"), std::string::npos) << message;
}

TEST_F(ClientTest, UnreachableServerNamesTheAddress) {
  ClientOptions o = options(2);
  server_->shutdown();
  server_.reset();  // nothing listens on the port any more
  o.connect_timeout_ms = 300;
  auto report = run_client(testing::noise(16000, 11), o);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), ErrorCode::kUnavailable);
  EXPECT_NE(report.status().to_string().find(o.server), std::string::npos)
      << report.status().to_string();
}

TEST_F(ClientTest, BadOptionsAreRefused) {
  ClientOptions o = options(0);
  EXPECT_NE(run_client({}, o).status().to_string().find("batch size 0"), std::string::npos);
  o = options(2);
  o.concurrency = 0;
  EXPECT_NE(run_client({}, o).status().to_string().find("concurrency 0"), std::string::npos);
}

}  // namespace
TEST(ClientLateness, IsArrivalMinusWhenTheFramesAudioWasSentMinusTheLookahead) {
  // 100 ms chunks (1600 samples): frame 0's first sample is in message 1, frame 3's (sample
  // 1920) in message 2; the last message holds the tail.
  const std::vector<double> sent_ms = {0, 0, 100, 200};
  EXPECT_DOUBLE_EQ(frame_lateness_ms(0, 500, sent_ms, 1600), 500 - 0 - kModelLookaheadMs);
  EXPECT_DOUBLE_EQ(frame_lateness_ms(3, 700, sent_ms, 1600), 700 - 100 - kModelLookaheadMs);
  EXPECT_DOUBLE_EQ(frame_lateness_ms(99, 900, sent_ms, 1600), 900 - 200 - kModelLookaheadMs);
  EXPECT_DOUBLE_EQ(kModelLookaheadMs, 452.5);
}

TEST(ClientLateness, ASessionKeepsPaceWhenItsP99IsWithin150Ms) {
  ClientReport report;
  // One session on time, one 200 ms late throughout, one without frames (not counted).
  const std::vector<double> on_time(100, -20.0);
  summarize_lateness({on_time, std::vector<double>(100, 200.0), {}}, report);
  EXPECT_EQ(report.lateness_frames, 200);
  EXPECT_EQ(report.sessions_kept_pace, 1);
  EXPECT_DOUBLE_EQ(report.lateness_p50_ms, 90.0);
  EXPECT_DOUBLE_EQ(report.lateness_max_ms, 200.0);
}

}  // namespace lipsync::client
