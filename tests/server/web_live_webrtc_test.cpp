// WebRTC signalling on /ws/live end to end: a real server in-process, the tiny models, and a
// webrtcbin receiver in the test that answers the server's offer as the page does (loopback
// ICE). The stream must decode to the avatar's size with audio; JPEG frames pause while WebRTC
// plays and resume after webrtc-stop; bad signalling gets webrtc-error, the session goes on.
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "http/websocket_client.h"
#include "server/server.h"
#include "support/synthetic_avatar.h"
#include "support/synthetic_server_test.h"
#include "support/webrtc_receiver.h"
#include "webrtc/webrtc_peer.h"

namespace lipsync::server {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

std::uint32_t frame_index(const std::string& data) {
  std::uint32_t value = 0;
  for (int b = 0; b < 4; ++b) value |= std::uint32_t{static_cast<std::uint8_t>(data[b])} << (8 * b);
  return value;
}

// A /ws/live connection that plays the page's part of the WebRTC signalling.
class WebRtcClient {
 public:
  explicit WebRtcClient(int port) {
    auto ws = http::WebSocketClient::connect("127.0.0.1", port, "/ws/live");
    EXPECT_TRUE(ws.ok()) << ws.status().to_string();
    if (ws.ok()) ws_ = std::move(*ws);
    receiver.on_candidate = [this](int index, const std::string& candidate) {
      std::lock_guard lock(mutex_);
      outgoing_.push_back(
          json{{"type", "webrtc-candidate"}, {"candidate", candidate}, {"sdpMLineIndex", index}});
    };
  }

  json open(const json& request) {
    EXPECT_TRUE(ws_->send_text(request.dump()).ok());
    auto reply = ws_->receive();
    return reply.ok() ? json::parse(reply->data) : json();
  }

  void send(const json& message) { ASSERT_TRUE(ws_->send_text(message.dump()).ok()); }

  // Reads messages, doing the page's part, until `done` or the timeout; false on timeout or a
  // closed connection. Candidates of the receiver are sent from this thread only.
  bool pump(const std::function<bool()>& done, std::chrono::milliseconds timeout = 20s) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      flush();
      if (std::chrono::steady_clock::now() > end) return false;
      auto message = ws_->receive();
      if (!message.ok()) return false;
      if (message->binary) {
        const std::uint32_t index = frame_index(message->data);
        if (jpeg_frames > 0 && index > last_jpeg_index) {
          largest_jpeg_gap = std::max(largest_jpeg_gap, index - last_jpeg_index);
        }
        last_jpeg_index = index;
        ++jpeg_frames;
        continue;
      }
      const json m = json::parse(message->data);
      const std::string type = m.value("type", "");
      if (type == "webrtc-offer") {
        const std::string answer = receiver.answer(m["sdp"]);
        EXPECT_FALSE(answer.empty());
        send({{"type", "webrtc-answer"}, {"sdp", answer}});
      } else if (type == "webrtc-candidate") {
        receiver.add_candidate(m["sdpMLineIndex"], m["candidate"]);
      } else if (type == "frame") {
        ++notices;
      } else if (type == "webrtc-state") {
        states.push_back(m["state"]);
      } else {
        errors.push_back(m);
      }
    }
    flush();
    return true;
  }

  bool state_seen(const std::string& state) const {
    return std::find(states.begin(), states.end(), state) != states.end();
  }

  testing::WebRtcReceiver receiver;
  std::vector<std::string> states;
  std::vector<json> errors;
  int jpeg_frames = 0;
  int notices = 0;  // {"type": "frame"} while WebRTC played
  std::uint32_t last_jpeg_index = 0;
  std::uint32_t largest_jpeg_gap = 0;  // between consecutive JPEG frames, in frames

 private:
  void flush() {
    std::vector<json> out;
    {
      std::lock_guard lock(mutex_);
      out.swap(outgoing_);
    }
    for (const json& m : out) send(m);
  }

  std::unique_ptr<http::WebSocketClient> ws_;
  std::mutex mutex_;
  std::vector<json> outgoing_;
};

class WebLiveWebRtcTest : public testing::SyntheticServerTest {
 protected:
  void start_server(int max_peers = 4) {
    Config config = testing::synthetic_config(*dir_, {"a"});
    config.pipeline.max_batch = 8;
    config.webrtc.max_peers = max_peers;
    auto server = Server::start(config, {.grpc_port = 0, .http_port = 0, .preload = false});
    ASSERT_TRUE(server.ok()) << server.status().to_string();
    server_ = std::move(*server);
    port_ = server_->http_port();
  }

  std::unique_ptr<Server> server_;
  int port_ = 0;
};

TEST_F(WebLiveWebRtcTest, TheOfferIsAnsweredAndTheStreamDecodesWhileJpegsPause) {
  start_server();
  WebRtcClient client(port_);
  const json hello = client.open({{"model", "a"}});
  ASSERT_TRUE(hello.contains("session")) << hello.dump();
  EXPECT_EQ(hello["webrtc"], true);
  ASSERT_TRUE(client.pump([&] { return client.jpeg_frames >= 2; }));  // the poster path
  const auto asked = std::chrono::steady_clock::now();
  client.send({{"type", "webrtc-start"}});
  ASSERT_TRUE(client.pump([&] { return client.state_seen("connected"); }))
      << "states: " << json(client.states).dump() << " errors: " << json(client.errors).dump();
  ASSERT_TRUE(client.receiver.wait_for([&] { return client.receiver.video_frames() >= 1; }, 10s));
  std::printf(
      "webrtc-start to the first decoded frame: %.0f ms\n",
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - asked).count());
  ASSERT_TRUE(client.receiver.wait_for(
      [&] { return client.receiver.video_frames() >= 25 && client.receiver.audio_buffers() >= 25; },
      15s))
      << client.receiver.video_frames() << " frames, " << client.receiver.audio_buffers()
      << " audio buffers";
  EXPECT_EQ(client.receiver.video_width(), testing::kAvatarWidth);
  EXPECT_EQ(client.receiver.video_height(), testing::kAvatarHeight);
  EXPECT_TRUE(client.errors.empty()) << client.errors.front().dump();

  // Two seconds of WebRTC (at most a few frames were queued before it connected): no JPEG for
  // them. After webrtc-stop JPEGs come back, with the frames WebRTC played missing.
  ASSERT_TRUE(client.receiver.wait_for([&] { return client.receiver.video_frames() >= 50; }, 10s));
  client.send({{"type", "webrtc-stop"}});
  EXPECT_TRUE(client.pump([&] { return client.largest_jpeg_gap > 20; }, 10s))
      << "JPEG frames went on while WebRTC played (largest gap " << client.largest_jpeg_gap
      << " frames, last " << client.last_jpeg_index << ")";
  EXPECT_GE(client.notices, 1) << "no frame notice (index, utterance) while WebRTC played";
}

TEST_F(WebLiveWebRtcTest, BadSignallingIsAnsweredWithErrorsAndTheSessionGoesOn) {
  start_server(/*max_peers=*/1);
  WebRtcClient client(port_);
  const json hello = client.open({{"model", "a"}});
  ASSERT_TRUE(hello.contains("session"));
  const auto error_count = [&](std::size_t n) {
    return [&, n] { return client.errors.size() >= n; };
  };

  client.send({{"type", "webrtc-answer"}, {"sdp", "v=0"}});  // no offer yet
  ASSERT_TRUE(client.pump(error_count(1)));
  EXPECT_EQ(client.errors[0]["type"], "webrtc-error");
  EXPECT_NE(client.errors[0]["error"].get<std::string>().find("webrtc-start"), std::string::npos);

  client.send({{"type", "webrtc-dance"}});
  ASSERT_TRUE(client.pump(error_count(2)));
  EXPECT_NE(client.errors[1]["error"].get<std::string>().find("unknown"), std::string::npos);

  // A peer, then an answer that is not SDP and one without video.
  client.send({{"type", "webrtc-start"}});
  client.send({{"type", "webrtc-answer"}, {"sdp", "garbage"}});
  ASSERT_TRUE(client.pump(error_count(3)));
  EXPECT_NE(client.errors[2]["error"].get<std::string>().find("INVALID_ARGUMENT"),
            std::string::npos)
      << client.errors[2].dump();
  client.send({{"type", "webrtc-answer"},
               {"sdp",
                "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF "
                "111\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:111 OPUS/48000/2\r\n"}});
  client.send({{"type", "webrtc-candidate"}, {"candidate", 5}});
  ASSERT_TRUE(client.pump(error_count(5)));
  EXPECT_NE(client.errors[3]["error"].get<std::string>().find("video"), std::string::npos)
      << client.errors[3].dump();
  EXPECT_NE(client.errors[4]["error"].get<std::string>().find("sdpMLineIndex"), std::string::npos)
      << client.errors[4].dump();

  // max_peers 1: a second tab on the same session is refused WebRTC and keeps its JPEGs.
  WebRtcClient second(port_);
  ASSERT_EQ(second.open({{"join", hello["session"]}})["session"], hello["session"]);
  second.send({{"type", "webrtc-start"}});
  ASSERT_TRUE(second.pump([&] { return !second.errors.empty(); }));
  EXPECT_NE(second.errors[0]["error"].get<std::string>().find("RESOURCE_EXHAUSTED"),
            std::string::npos)
      << second.errors[0].dump();
  const int seen = second.jpeg_frames;
  ASSERT_TRUE(second.pump([&] { return second.jpeg_frames >= seen + 3; }));

  // The first connection's peer still completes with a real answer.
  ASSERT_TRUE(client.pump([&] { return client.state_seen("connected"); }));
  EXPECT_TRUE(client.receiver.wait_for([&] { return client.receiver.video_frames() >= 5; }, 10s));
}

}  // namespace
}  // namespace lipsync::server
