// The browser demo end to end: a real server in-process (HTTP on port 0), the tiny models, a
// synthetic avatar, and a Beast WebSocket client uploading a WAV as the page does.
#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <thread>

#include "audio/audio_decoder.h"
#include "client/web_client.h"
#include "media/jpeg_codec.h"
#include "pipeline/clip_plan.h"
#include "server/server.h"
#include "support/http_get.h"
#include "support/synthetic_avatar.h"
#include "support/synthetic_server_test.h"
#include "support/test_paths.h"

namespace lipsync::server {
namespace {

namespace fs = std::filesystem;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = boost::asio::ip::tcp;
using client::render_over_websocket;
using client::WebFrame;
using nlohmann::json;

constexpr int kAvatarFrames = testing::SyntheticServerTest::kFrames;
constexpr std::size_t kHeaderBytes = 8;  // uint32 LE index, uint32 LE timestamp (ms)

// A 16-bit PCM WAV of a 220 Hz tone with a slow amplitude change.
std::string wav_bytes(double seconds, int rate_hz, int channels) {
  const auto frames = static_cast<std::uint32_t>(seconds * rate_hz);
  const std::uint32_t data_bytes = frames * static_cast<std::uint32_t>(channels) * 2;
  std::string wav;
  const auto u32 = [&](std::uint32_t v) {
    for (int b = 0; b < 4; ++b) wav.push_back(static_cast<char>(v >> (8 * b)));
  };
  const auto u16 = [&](std::uint16_t v) {
    wav.push_back(static_cast<char>(v));
    wav.push_back(static_cast<char>(v >> 8));
  };
  wav += "RIFF";
  u32(36 + data_bytes);
  wav += "WAVEfmt ";
  u32(16);
  u16(1);  // PCM
  u16(static_cast<std::uint16_t>(channels));
  u32(static_cast<std::uint32_t>(rate_hz));
  u32(static_cast<std::uint32_t>(rate_hz * channels * 2));
  u16(static_cast<std::uint16_t>(channels * 2));
  u16(16);
  wav += "data";
  u32(data_bytes);
  for (std::uint32_t i = 0; i < frames; ++i) {
    const double t = double(i) / rate_hz;
    const double v = 0.5 * std::sin(2 * M_PI * 220 * t) * (0.5 + 0.5 * std::sin(2 * M_PI * t));
    for (int c = 0; c < channels; ++c) u16(static_cast<std::uint16_t>(std::lround(v * 32767)));
  }
  return wav;
}

struct Frame {
  std::uint32_t index = 0;
  std::uint32_t timestamp_ms = 0;
  std::vector<std::uint8_t> jpeg;
};

struct RenderReply {
  json start;  // {"frames", "width", "height", "fps"}; null when the render failed first
  std::vector<Frame> frames;
  json end;  // {"done": true, ...} or {"error": ...}
};

class WsClient {
 public:
  explicit WsClient(int port) : ws_(io_) {
    beast::get_lowest_layer(ws_).connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"),
                                                       static_cast<unsigned short>(port)));
    ws_.handshake("127.0.0.1", "/ws/render");
  }
  void send(const std::string& data, bool binary) {
    ws_.binary(binary);
    ws_.write(boost::asio::buffer(data));
  }
  // Reads one message; false when the connection ended.
  bool read(std::string& data, bool& binary) {
    beast::flat_buffer buffer;
    beast::error_code ec;
    ws_.read(buffer, ec);
    if (ec) return false;
    data = beast::buffers_to_string(buffer.data());
    binary = ws_.got_binary();
    return true;
  }
  void close() { ws_.close(websocket::close_code::normal); }
  // Bytes the server sent that were not read yet.
  std::size_t pending() { return beast::get_lowest_layer(ws_).available(); }

 private:
  boost::asio::io_context io_;
  websocket::stream<tcp::socket> ws_;
};

// Everything the server sends until it closes.
RenderReply render(int port, const json& settings, const std::string& audio,
                   bool audio_binary = true) {
  WsClient client(port);
  client.send(settings.dump(), false);
  client.send(audio, audio_binary);
  RenderReply reply;
  std::string data;
  bool binary = false;
  while (client.read(data, binary)) {
    if (binary) {
      Frame frame;
      EXPECT_GE(data.size(), kHeaderBytes);
      const auto* bytes = reinterpret_cast<const std::uint8_t*>(data.data());
      for (int b = 0; b < 4; ++b) {
        frame.index |= std::uint32_t{bytes[b]} << (8 * b);
        frame.timestamp_ms |= std::uint32_t{bytes[4 + b]} << (8 * b);
      }
      frame.jpeg.assign(bytes + kHeaderBytes, bytes + data.size());
      reply.frames.push_back(std::move(frame));
    } else {
      json message = json::parse(data);
      const bool last = message.contains("error") || message.contains("done");
      (last ? reply.end : reply.start) = std::move(message);
    }
  }
  return reply;
}

class WebRenderTest : public testing::SyntheticServerTest {
 protected:
  void SetUp() override {
    Config config = testing::synthetic_config(*dir_, {"a", "b"});
    config.pipeline.max_batch = 8;
    auto server = Server::start(config, {.grpc_port = 0, .http_port = 0, .preload = false});
    ASSERT_TRUE(server.ok()) << server.status().to_string();
    server_ = std::move(*server);
    port_ = server_->http_port();
    ASSERT_GT(port_, 0);
  }

  // A good render: every frame, in order, a JPEG of the avatar's size.
  void expect_renders(const std::string& model, const std::string& wav) {
    const RenderReply reply = render(port_, {{"model", model}}, wav);
    const std::span wav_span(wav.data(), wav.size());
    auto samples = audio::decode_audio_bytes(std::as_bytes(wav_span), "wav");
    ASSERT_TRUE(samples.ok()) << samples.status().to_string();
    const std::int64_t expected = pipeline::clip_frame_count(samples->size());  // pipeline.md §2
    ASSERT_TRUE(reply.end.value("done", false)) << reply.end.dump();
    EXPECT_EQ(reply.end["frames"], expected);
    EXPECT_EQ(reply.start["frames"], expected);
    EXPECT_EQ(reply.start["width"], testing::kAvatarWidth);
    EXPECT_EQ(reply.start["height"], testing::kAvatarHeight);
    EXPECT_EQ(reply.start["fps"], 25);
    ASSERT_EQ(static_cast<std::int64_t>(reply.frames.size()), expected);
    for (std::size_t i = 0; i < reply.frames.size(); ++i) {
      const Frame& frame = reply.frames[i];
      EXPECT_EQ(frame.index, i);
      EXPECT_EQ(frame.timestamp_ms, i * 40);
      auto image = media::decode_jpeg(frame.jpeg);
      ASSERT_TRUE(image.ok()) << "frame " << i << ": " << image.status().to_string();
      EXPECT_EQ(image->width, testing::kAvatarWidth);
      EXPECT_EQ(image->height, testing::kAvatarHeight);
    }
  }

  void expect_error(const RenderReply& reply, const std::string& needle) {
    EXPECT_TRUE(reply.frames.empty());
    ASSERT_TRUE(reply.end.contains("error")) << reply.end.dump();
    EXPECT_NE(reply.end["error"].get<std::string>().find(needle), std::string::npos)
        << reply.end.dump();
  }

  std::unique_ptr<Server> server_;
  int port_ = 0;
};

TEST_F(WebRenderTest, PageAndModelListAreServed) {
  const testing::HttpReply page = testing::http_get(port_, "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("<canvas"), std::string::npos);
  EXPECT_NE(page.body.find("/ws/render"), std::string::npos);
  EXPECT_NE(page.body.find("/api/models"), std::string::npos);
  EXPECT_EQ(page.body.find("<script src"), std::string::npos);  // self-contained

  const testing::HttpReply models = testing::http_get(port_, "/api/models");
  EXPECT_EQ(models.status, 200);
  EXPECT_EQ(models.content_type, "application/json");
  const json list = json::parse(models.body);
  ASSERT_EQ(list["models"].size(), 2u);
  EXPECT_EQ(list["models"][0]["id"], "a");
  EXPECT_EQ(list["models"][0]["state"], "unloaded");
  EXPECT_EQ(list["models"][1]["id"], "b");
  // The limits the page checks a file against before uploading it: 32 MiB and 10 minutes, as
  // docs/api.md states.
  EXPECT_EQ(list["limits"]["max_upload_bytes"].get<std::size_t>(), std::size_t{32} << 20);
  EXPECT_EQ(list["limits"]["max_audio_seconds"].get<double>(), 600.0);
}

TEST_F(WebRenderTest, AWavComesBackAsOneJpegPerFrameInOrder) {
  expect_renders("a", wav_bytes(1.3, 22050, 2));  // resampled and downmixed on the way
  const json list = json::parse(testing::http_get(port_, "/api/models").body);
  EXPECT_EQ(list["models"][0]["state"], "ready");  // loaded on first use
}

TEST_F(WebRenderTest, WrapSequenceAndStartFrameAreAccepted) {
  const RenderReply reply = render(
      port_, {{"model", "b"}, {"sequence", "wrap"}, {"start_frame", 5}}, wav_bytes(0.5, 16000, 1));
  ASSERT_TRUE(reply.end.value("done", false)) << reply.end.dump();
  EXPECT_EQ(static_cast<std::int64_t>(reply.frames.size()),
            reply.end["frames"].get<std::int64_t>());
  expect_error(render(port_, {{"model", "b"}, {"sequence", "shuffle"}}, wav_bytes(0.5, 16000, 1)),
               "shuffle");
}

TEST_F(WebRenderTest, ErrorsAreAnsweredAndTheServerKeepsServing) {
  const std::string wav = wav_bytes(0.5, 16000, 1);
  expect_error(render(port_, {{"model", "nobody"}}, wav), "NOT_FOUND");
  expect_error(render(port_, {{"model", "a"}}, std::string(5000, 'x')), "uploaded audio");
  expect_error(render(port_, {{"model", "a"}}, std::string((32 << 20) + 1, '\0')), "32 MiB");
  expect_error(render(port_, {{"model", "a"}}, "not audio", false), "binary");
  expect_error(render(port_, {{"voice", "a"}}, wav), "\"model\"");
  expect_error(render(port_, {{"model", "a"}}, wav_bytes(0.05, 16000, 1)), "at least");
  expect_renders("a", wav);
}

// "window": N holds the frames to what the client let go of plus N (the page's bounded buffer).
TEST_F(WebRenderTest, AWindowHoldsTheFramesBackUntilTheClientPlayedThem) {
  constexpr int kWindow = 3;
  WsClient client(port_);
  client.send(json{{"model", "a"}, {"window", kWindow}}.dump(), false);
  client.send(wav_bytes(1.0, 16000, 1), true);
  std::string data;
  bool binary = false;
  ASSERT_TRUE(client.read(data, binary));
  ASSERT_FALSE(binary) << "the announcement comes first";
  const std::int64_t total = json::parse(data)["frames"].get<std::int64_t>();
  ASSERT_GT(total, 2 * kWindow);
  const auto read_frame = [&](std::uint32_t expected_index) {
    ASSERT_TRUE(client.read(data, binary));
    ASSERT_TRUE(binary) << data;
    EXPECT_EQ(static_cast<std::uint8_t>(data[0]), expected_index);
  };
  for (int i = 0; i < kWindow; ++i) read_frame(static_cast<std::uint32_t>(i));
  // The whole clip renders in well under this on the synthetic model; nothing more may come.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(client.pending(), 0u) << "a frame beyond the window was sent";
  client.send(json{{"played", 2}}.dump(), false);  // room for frames 3 and 4
  read_frame(3);
  read_frame(4);
  client.send(json{{"played", total}}.dump(), false);  // the rest, then done
  for (std::int64_t i = 5; i < total; ++i) read_frame(static_cast<std::uint32_t>(i));
  ASSERT_TRUE(client.read(data, binary));
  EXPECT_TRUE(json::parse(data).value("done", false)) << data;
}

TEST_F(WebRenderTest, AWindowMustBePositiveAndOnlyPlayedMessagesFollowTheAudio) {
  const std::string wav = wav_bytes(1.0, 16000, 1);
  expect_error(render(port_, {{"model", "a"}, {"window", 0}}, wav), "\"window\"");
  expect_error(render(port_, {{"model", "a"}, {"window", "all"}}, wav), "\"window\"");
  WsClient client(port_);
  client.send(json{{"model", "a"}, {"window", 1}}.dump(), false);
  client.send(wav, true);
  client.send(json{{"skip", 1}}.dump(), false);
  std::string data;
  bool binary = true;
  json last;
  while (client.read(data, binary)) {
    if (!binary) last = json::parse(data);
  }
  ASSERT_TRUE(last.contains("error")) << last.dump();
  EXPECT_NE(last["error"].get<std::string>().find("played"), std::string::npos) << last.dump();
}

TEST_F(WebRenderTest, TheWebClientChecksAndTimesTheFrames) {
  const std::string wav = wav_bytes(0.6, 16000, 1);
  const std::span bytes(reinterpret_cast<const std::uint8_t*>(wav.data()), wav.size());
  std::int64_t seen = 0;
  auto stats =
      render_over_websocket({.port = port_, .model_id = "b"}, bytes, [&](const WebFrame& frame) {
        EXPECT_EQ(frame.index, seen++);
        EXPECT_TRUE(media::decode_jpeg(frame.jpeg).ok());
        return Status{};
      });
  ASSERT_TRUE(stats.ok()) << stats.status().to_string();
  EXPECT_EQ(stats->frames, pipeline::clip_frame_count(std::size_t(0.6 * 16000)));
  EXPECT_EQ(seen, stats->frames);
  EXPECT_EQ(stats->width, testing::kAvatarWidth);
  ASSERT_EQ(static_cast<std::int64_t>(stats->arrival_ms.size()), stats->frames);
  EXPECT_LE(stats->first_frame_ms, stats->total_ms);

  auto unknown = render_over_websocket({.port = port_, .model_id = "nobody"}, bytes);
  EXPECT_EQ(unknown.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(unknown.status().message().find("nobody"), std::string::npos);
  auto stopped = render_over_websocket(
      {.port = port_, .model_id = "a"}, bytes,
      [](const WebFrame&) { return make_error(ErrorCode::kInternal, "enough"); });
  EXPECT_EQ(stopped.status().message(), "enough");
}

TEST_F(WebRenderTest, AClosedSocketStopsTheRender) {
  constexpr double kSeconds = 60;  // 1500 frames
  WsClient client(port_);
  client.send(json{{"model", "a"}}.dump(), false);
  client.send(wav_bytes(kSeconds, 16000, 1), true);
  std::string data;
  bool binary = false;
  ASSERT_TRUE(client.read(data, binary));  // {"frames": ...}
  ASSERT_FALSE(binary);
  const auto total = json::parse(data)["frames"].get<std::int64_t>();
  ASSERT_TRUE(client.read(data, binary));
  ASSERT_TRUE(binary);  // frame 0
  client.close();
  server_->shutdown();  // joins the render handler
  EXPECT_LT(server_->scheduler().stats().frames, total / 2);
}

}  // namespace
}  // namespace lipsync::server
