// /ws/live end to end: a real server in-process (HTTP on port 0), the tiny models, a synthetic
// avatar, and WebSocket clients that open, talk to, interrupt and join live sessions.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "core/clock.h"
#include "http/websocket_client.h"
#include "media/jpeg_codec.h"
#include "server/server.h"
#include "support/live_interrupt.h"
#include "support/synthetic_avatar.h"
#include "support/synthetic_server_test.h"
#include "webrtc/webrtc_peer.h"

namespace lipsync::server {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

struct LiveFrameMessage {
  std::uint32_t index = 0;
  std::uint32_t pts_ms = 0;
  std::uint32_t utterance = 0;
  std::vector<std::uint8_t> jpeg;
};

std::uint32_t read_u32(const std::string& data, std::size_t at) {
  std::uint32_t value = 0;
  for (int b = 0; b < 4; ++b) {
    value |= std::uint32_t{static_cast<std::uint8_t>(data[at + b])} << (8 * b);
  }
  return value;
}

// 16-bit little-endian PCM of a 220 Hz tone at 16 kHz mono.
std::vector<std::uint8_t> tone_s16(double seconds, double amplitude = 0.3) {
  const auto count = static_cast<std::size_t>(seconds * 16000);
  std::vector<std::uint8_t> bytes(count * 2);
  for (std::size_t i = 0; i < count; ++i) {
    const double t = static_cast<double>(i) / 16000;
    const auto value = static_cast<std::int16_t>(32767 * amplitude * std::sin(2 * M_PI * 220 * t) *
                                                 (1 + 0.5 * std::sin(2 * M_PI * 3 * t)) / 1.5);
    bytes[2 * i] = static_cast<std::uint8_t>(value & 0xff);
    bytes[2 * i + 1] = static_cast<std::uint8_t>((value >> 8) & 0xff);
  }
  return bytes;
}

class LiveClient {
 public:
  explicit LiveClient(int port) {
    auto ws = http::WebSocketClient::connect("127.0.0.1", port, "/ws/live");
    EXPECT_TRUE(ws.ok()) << ws.status().to_string();
    if (ws.ok()) ws_ = std::move(*ws);
  }

  json open(const json& request) {
    EXPECT_TRUE(ws_->send_text(request.dump()).ok());
    auto reply = ws_->receive();
    EXPECT_TRUE(reply.ok()) << reply.status().to_string();
    if (!reply.ok()) return json();
    EXPECT_FALSE(reply->binary);
    return json::parse(reply->data);
  }

  // The next frame; text messages (errors) go to `errors`. Null when the connection ended.
  std::optional<LiveFrameMessage> frame() {
    while (true) {
      auto message = ws_->receive();
      if (!message.ok()) return std::nullopt;
      if (!message->binary) {
        errors.push_back(json::parse(message->data));
        continue;
      }
      EXPECT_GE(message->data.size(), 12u);
      LiveFrameMessage frame{.index = read_u32(message->data, 0),
                             .pts_ms = read_u32(message->data, 4),
                             .utterance = read_u32(message->data, 8)};
      frame.jpeg.assign(message->data.begin() + 12, message->data.end());
      return frame;
    }
  }

  void send_speech(const std::vector<std::uint8_t>& pcm, std::size_t chunk_bytes = 3200) {
    for (std::size_t at = 0; at < pcm.size(); at += chunk_bytes) {
      const std::size_t n = std::min(chunk_bytes, pcm.size() - at);
      ASSERT_TRUE(ws_->send_binary(std::span(pcm.data() + at, n)).ok());
    }
  }
  void send(const json& command) { ASSERT_TRUE(ws_->send_text(command.dump()).ok()); }

  std::vector<json> errors;

 private:
  std::unique_ptr<http::WebSocketClient> ws_;
};

class WebLiveTest : public testing::SyntheticServerTest {
 protected:
  void SetUp() override {
    Config config = testing::synthetic_config(*dir_, {"a", "b"});
    config.pipeline.max_batch = 8;
    auto server = Server::start(config, {.grpc_port = 0, .http_port = 0, .preload = false});
    ASSERT_TRUE(server.ok()) << server.status().to_string();
    server_ = std::move(*server);
    port_ = server_->http_port();
  }

  std::unique_ptr<Server> server_;
  int port_ = 0;
};

TEST_F(WebLiveTest, IdleAtOnceThenSpeechThenIdleAgainInOneUnbrokenSequence) {
  LiveClient client(port_);
  const json hello = client.open({{"model", "a"}});
  ASSERT_TRUE(hello.contains("session")) << hello.dump();
  EXPECT_EQ(hello["session"].get<std::string>().size(), 32u);
  EXPECT_EQ(hello["width"], testing::kAvatarWidth);
  EXPECT_EQ(hello["height"], testing::kAvatarHeight);
  EXPECT_EQ(hello["fps"], 25);

  std::int64_t last = -1;
  for (int i = 0; i < 10; ++i) {
    auto frame = client.frame();
    ASSERT_TRUE(frame.has_value());
    EXPECT_GT(static_cast<std::int64_t>(frame->index), last);
    EXPECT_EQ(frame->pts_ms, frame->index * 40);
    EXPECT_EQ(frame->utterance, 0u);
    last = frame->index;
    auto image = media::decode_jpeg(frame->jpeg);
    ASSERT_TRUE(image.ok()) << image.status().to_string();
    EXPECT_EQ(image->width, testing::kAvatarWidth);
  }
  client.send_speech(tone_s16(1.5));
  client.send({{"end", true}});
  int speech_frames = 0;
  bool idle_again = false;
  const auto deadline = SteadyClock::now() + 60s;
  while (!idle_again && SteadyClock::now() < deadline) {
    auto frame = client.frame();
    ASSERT_TRUE(frame.has_value());
    EXPECT_GT(static_cast<std::int64_t>(frame->index), last);
    last = frame->index;
    if (frame->utterance == 1) ++speech_frames;
    idle_again = speech_frames > 0 && frame->utterance == 0;
  }
  EXPECT_TRUE(idle_again);
  // 1.5 s of speech is 37 frames. A reader that falls behind loses the oldest frames (8 are
  // kept for it), so on a loaded machine fewer arrive; never more.
  EXPECT_GE(speech_frames, 1);
  EXPECT_LE(speech_frames, 38);
  EXPECT_TRUE(client.errors.empty()) << client.errors.front().dump();
}

TEST_F(WebLiveTest, AnInterruptReturnsToIdleWithinAFewFrames) {
  LiveClient client(port_);
  ASSERT_TRUE(client.open({{"model", "a"}}).contains("session"));
  client.send_speech(tone_s16(8.0));
  const auto deadline = SteadyClock::now() + 60s;
  std::optional<LiveFrameMessage> frame;
  while (SteadyClock::now() < deadline) {
    frame = client.frame();
    ASSERT_TRUE(frame.has_value());
    if (frame->utterance != 0) break;
  }
  ASSERT_NE(frame->utterance, 0u);
  const auto interrupted = SteadyClock::now();
  client.send({{"interrupt", true}});
  const auto after = testing::frames_after_interrupt(
      [&]() -> std::optional<std::int64_t> {
        frame = client.frame();
        if (!frame) return std::nullopt;
        return static_cast<std::int64_t>(frame->utterance);
      },
      interrupted, 60);
  std::printf("interrupt to the first idle frame: %.0f ms (%d speech frames after it)\n",
              after.first_idle_ms, after.speech_frames);
  EXPECT_FALSE(after.stream_ended);
  // Frames already submitted (lead 2) or on their way to this client (8 queued, and what the
  // socket holds) may still show speech; the 8 s utterance would otherwise go on for 200 frames.
  EXPECT_LE(after.speech_frames, 60);
}

TEST_F(WebLiveTest, ASecondConnectionWatchesTheSameSession) {
  LiveClient owner(port_);
  const json hello = owner.open({{"model", "b"}, {"idle", "source"}});
  ASSERT_TRUE(hello.contains("session")) << hello.dump();
  LiveClient watcher(port_);
  const json joined = watcher.open({{"join", hello["session"]}});
  ASSERT_EQ(joined["session"], hello["session"]) << joined.dump();
  auto seen = watcher.frame();
  ASSERT_TRUE(seen.has_value());
  // The owner sees the same frame (same index, same bytes).
  std::optional<LiveFrameMessage> mine;
  do {
    mine = owner.frame();
    ASSERT_TRUE(mine.has_value());
  } while (mine->index < seen->index);
  EXPECT_EQ(mine->index, seen->index);
  EXPECT_EQ(mine->jpeg, seen->jpeg);
}

TEST_F(WebLiveTest, BadRequestsAreAnsweredWithErrorsAndTheSessionGoesOn) {
  EXPECT_NE(
      LiveClient(port_).open({{"model", "nobody"}})["error"].get<std::string>().find("NOT_FOUND"),
      std::string::npos);
  EXPECT_NE(
      LiveClient(port_).open({{"join", "0123"}})["error"].get<std::string>().find("NOT_FOUND"),
      std::string::npos);
  EXPECT_NE(
      LiveClient(port_).open({{"model", "a"}, {"format", "u8"}})["error"].get<std::string>().find(
          "format"),
      std::string::npos);
  EXPECT_NE(
      LiveClient(port_).open({{"model", "a"}, {"idle", "blink"}})["error"].get<std::string>().find(
          "idle"),
      std::string::npos);

  LiveClient client(port_);
  ASSERT_TRUE(client.open({{"model", "a"}}).contains("session"));
  client.send_speech({1, 2, 3});  // not a whole 16-bit sample
  client.send({{"dance", true}});
  client.send({{"interrupt", 1}});  // not the boolean: once ended the connection (issue 19)
  while (client.errors.size() < 3) ASSERT_TRUE(client.frame().has_value());
  EXPECT_NE(client.errors[0]["error"].get<std::string>().find("whole number"), std::string::npos);
  EXPECT_NE(client.errors[1]["error"].get<std::string>().find("unknown message"),
            std::string::npos);
  EXPECT_NE(client.errors[2]["error"].get<std::string>().find("unknown message"),
            std::string::npos);
  ASSERT_TRUE(client.frame().has_value());  // still live
}

TEST_F(WebLiveTest, TheHelloSaysWhetherWebRtcIsOfferedAndAnOffBuildSaysWhy) {
  LiveClient client(port_);
  const json hello = client.open({{"model", "a"}});
  ASSERT_TRUE(hello.contains("session")) << hello.dump();
  EXPECT_EQ(hello["webrtc"], webrtc::available());
  if (webrtc::available()) return;  // web_live_webrtc_tests covers the signalling
  client.send({{"type", "webrtc-start"}});
  while (client.errors.empty()) ASSERT_TRUE(client.frame().has_value());
  EXPECT_EQ(client.errors[0]["type"], "webrtc-error");
  EXPECT_NE(client.errors[0]["error"].get<std::string>().find("WebRTC is off"), std::string::npos);
  ASSERT_TRUE(client.frame().has_value());  // the JPEG stream goes on
}

TEST_F(WebLiveTest, TheHelloGivesThePageTheServersStunAndTurnServers) {
  {
    LiveClient client(port_);
    const json hello = client.open({{"model", "a"}});
    EXPECT_EQ(hello["ice_servers"], json::array()) << hello.dump();
  }
  Config config = testing::synthetic_config(*dir_, {"a"});
  config.webrtc.stun_servers = {"stun://127.0.0.1:9", "stun://127.0.0.1:7"};
  config.webrtc.turn_servers = {"turn://user:pass@127.0.0.1:3478"};
  auto server = Server::start(config, {.grpc_port = 0, .http_port = 0, .preload = false});
  ASSERT_TRUE(server.ok()) << server.status().to_string();
  LiveClient client((*server)->http_port());
  const json hello = client.open({{"model", "a"}});
  EXPECT_EQ(hello["ice_servers"],
            json::parse(R"([{"urls": "stun:127.0.0.1:9"}, {"urls": "stun:127.0.0.1:7"},
                            {"urls": "turn:127.0.0.1:3478", "username": "user",
                             "credential": "pass"}])"))
      << hello.dump();
}

}  // namespace
}  // namespace lipsync::server
