// `lipsync client --native`'s engine against a real server in-process on port 0, the tiny
// models and a synthetic avatar: audio-only requests, unary and streamed.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <random>

#include "audio/audio_decoder.h"
#include "client/client.h"
#include "media/jpeg_codec.h"
#include "pipeline/clip_plan.h"
#include "server/server.h"
#include "support/synthetic_avatar.h"
#include "support/synthetic_server_test.h"
#include "support/test_audio_writer.h"
#include "support/test_paths.h"

namespace lipsync::client {
namespace {

namespace fs = std::filesystem;

constexpr int kFrames = testing::SyntheticServerTest::kFrames;

std::size_t count_files(const fs::path& dir) {
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir)) ++files;
  return files;
}

class NativeClientTest : public testing::SyntheticServerTest {
 protected:
  void SetUp() override {
    auto server = server::Server::start(testing::synthetic_config(*dir_, {"a"}), {.grpc_port = 0});
    ASSERT_TRUE(server.ok()) << server.status().to_string();
    server_ = std::move(*server);
  }

  ClientOptions options(ClientApi api) const {
    return {
        .api = api, .server = "127.0.0.1:" + std::to_string(server_->grpc_port()), .model_id = "a"};
  }

  std::unique_ptr<server::Server> server_;
};

TEST_F(NativeClientTest, RenderReturnsEveryFrameOfTheClipAndSavesThem) {
  const auto clip = testing::noise(16000, 23);
  const auto clip_frames = pipeline::clip_frame_count(clip.size());  // 24
  ClientOptions o = options(ClientApi::kNative);
  o.concurrency = 2;
  o.requests = 3;
  o.save_dir = testing::temp_dir() / "frames";
  auto report = run_client(clip, o);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_EQ(report->succeeded, 3);
  EXPECT_EQ(report->failed, 0);
  EXPECT_EQ(report->frames, 3 * clip_frames);
  EXPECT_GT(report->frames_per_s, 0.0);
  EXPECT_GT(report->mean_stage.inference_ms, 0.0);
  EXPECT_GT(report->mean_stage.composite_ms, 0.0);
  EXPECT_GT(report->mean_stage.audio_processing_ms, 0.0);
  EXPECT_GE(report->mean_stage.total_ms, report->mean_stage.inference_ms);
  EXPECT_LE(report->latency_p50_ms, report->latency_p95_ms);
  EXPECT_EQ(report->first_frame_p50_ms, 0.0);  // unary: not measured
  EXPECT_EQ(count_files(o.save_dir), static_cast<std::size_t>(clip_frames));
  for (std::int64_t frame = 0; frame < clip_frames; ++frame) {
    const std::string jpeg =
        testing::read_file(o.save_dir / fmt::format("frame_{:06d}.jpg", frame));
    auto image = media::decode_jpeg(
        std::span(reinterpret_cast<const std::uint8_t*>(jpeg.data()), jpeg.size()));
    ASSERT_TRUE(image.ok()) << "frame " << frame << ": " << image.status().to_string();
    EXPECT_EQ(image->width, testing::kAvatarWidth);
  }
}

TEST_F(NativeClientTest, StreamGivesTheSameFramesAndTimesTheFirstOnes) {
  const auto clip = testing::noise(16000, 23);
  ClientOptions unary = options(ClientApi::kNative);
  unary.save_dir = testing::temp_dir() / "unary";
  ClientOptions stream = options(ClientApi::kNativeStream);
  stream.requests = 2;
  stream.save_dir = testing::temp_dir() / "stream";
  ASSERT_TRUE(run_client(clip, unary).ok());
  auto report = run_client(clip, stream);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  const auto clip_frames = pipeline::clip_frame_count(clip.size());
  EXPECT_EQ(report->frames, 2 * clip_frames);
  EXPECT_GT(report->first_frame_p50_ms, 0.0);
  EXPECT_LE(report->first_frame_p50_ms, report->latency_p95_ms);
  ASSERT_EQ(count_files(stream.save_dir), static_cast<std::size_t>(clip_frames));
  for (std::int64_t frame = 0; frame < clip_frames; ++frame) {
    const std::string name = fmt::format("frame_{:06d}.jpg", frame);
    EXPECT_EQ(testing::read_file(stream.save_dir / name), testing::read_file(unary.save_dir / name))
        << name;
  }
}

TEST_F(NativeClientTest, SessionGivesTheSameFramesAllAtOnceOrPacedAtOneX) {
  const auto clip = testing::noise(16000, 23);  // 1 s
  ClientOptions unary = options(ClientApi::kNative);
  unary.save_dir = testing::temp_dir() / "unary";
  ASSERT_TRUE(run_client(clip, unary).ok());
  const auto clip_frames = pipeline::clip_frame_count(clip.size());
  for (const bool realtime : {false, true}) {
    ClientOptions session = options(ClientApi::kNativeSession);
    session.chunk_ms = realtime ? 100 : 40;
    session.realtime = realtime;
    session.save_dir = testing::temp_dir() / (realtime ? "paced" : "at_once");
    auto report = run_client(clip, session);
    ASSERT_TRUE(report.ok()) << report.status().to_string();
    EXPECT_EQ(report->frames, clip_frames);
    EXPECT_GT(report->first_frame_p50_ms, 0.0);
    EXPECT_LE(report->first_frame_p50_ms, report->latency_p50_ms);
    // The server's times of the message with the first frames: it ran a batch and composited.
    const FirstMessageStages& first = report->first_message_p50;
    EXPECT_GT(first.inference_ms, 0.0);
    EXPECT_GT(first.composite_ms, 0.0);
    EXPECT_GT(first.audio_ms, 0.0);
    EXPECT_GE(first.total_ms, first.inference_ms + first.composite_ms);
    EXPECT_LE(first.total_ms, report->first_frame_p50_ms);
    // Paced: the last chunk leaves after the clip's duration.
    if (realtime) {
      EXPECT_GE(report->latency_p50_ms, 1000.0);
    }
    ASSERT_EQ(count_files(session.save_dir), static_cast<std::size_t>(clip_frames));
    for (std::int64_t frame = 0; frame < clip_frames; ++frame) {
      const std::string name = fmt::format("frame_{:06d}.jpg", frame);
      EXPECT_EQ(testing::read_file(session.save_dir / name),
                testing::read_file(unary.save_dir / name))
          << name << (realtime ? " (paced)" : "");
    }
  }
  ClientOptions bad = options(ClientApi::kNativeSession);
  bad.chunk_ms = 0;
  auto refused = run_client(clip, bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("chunk 0 ms"), std::string::npos)
      << refused.status().to_string();
}

TEST_F(NativeClientTest, EncodedAudioIsDecodedByTheServer) {
  const fs::path wav = testing::temp_dir() / "speech.wav";
  ASSERT_TRUE(
      audio::testing::write_test_audio(wav, testing::noise(24000, 23), {"pcm_s16le", ".wav"}).ok());
  auto decoded = audio::decode_audio_file(wav);
  ASSERT_TRUE(decoded.ok());
  ClientOptions o = options(ClientApi::kNative);
  o.encoded_audio = testing::read_file(wav);
  auto report = run_client({}, o);  // the PCM clip is not sent
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_EQ(report->frames, pipeline::clip_frame_count(decoded->size()));
}

TEST_F(NativeClientTest, ErrorsCarryTheStatusAndMessage) {
  ClientOptions o = options(ClientApi::kNativeStream);
  o.model_id = "nobody";
  auto report = run_client(testing::noise(16000, 23), o);
  ASSERT_FALSE(report.ok());
  const std::string message = report.status().to_string();
  EXPECT_NE(message.find("NOT_FOUND from '127.0.0.1:"), std::string::npos) << message;
  EXPECT_NE(message.find("nobody"), std::string::npos) << message;
  o = options(ClientApi::kNative);
  auto silent = run_client(std::vector<float>(100, 0.0f), o);
  ASSERT_FALSE(silent.ok());
  EXPECT_NE(silent.status().to_string().find("INVALID_ARGUMENT from"), std::string::npos)
      << silent.status().to_string();
}

}  // namespace
}  // namespace lipsync::client
