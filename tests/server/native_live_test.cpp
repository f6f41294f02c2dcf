// The native Live RPC end to end: a real server in-process (gRPC on port 0), the tiny models, a
// synthetic avatar, and gRPC clients that open, talk to, interrupt, join and leave live sessions.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <optional>
#include <thread>

#include "core/clock.h"
#include "media/jpeg_codec.h"
#include "proto/lipsync_v1.grpc.pb.h"
#include "server/server.h"
#include "support/http_get.h"
#include "support/live_interrupt.h"
#include "support/synthetic_avatar.h"
#include "support/synthetic_server_test.h"

namespace lipsync::server {
namespace {

using namespace std::chrono_literals;

// A 220 Hz tone at 16 kHz mono, its loudness varying at 3 Hz (speech-like for the gate).
std::vector<float> tone(double seconds, double amplitude = 0.3) {
  const auto count = static_cast<std::size_t>(seconds * 16000);
  std::vector<float> samples(count);
  for (std::size_t i = 0; i < count; ++i) {
    const double t = static_cast<double>(i) / 16000;
    samples[i] = static_cast<float>(amplitude * std::sin(2 * M_PI * 220 * t) *
                                    (1 + 0.5 * std::sin(2 * M_PI * 3 * t)) / 1.5);
  }
  return samples;
}

v1::LiveRequest open_request(const std::string& model) {
  v1::LiveRequest request;
  request.mutable_start()->set_model_id(model);
  return request;
}

v1::LiveRequest join_request(const std::string& session) {
  v1::LiveRequest request;
  request.mutable_start()->set_session(session);
  return request;
}

class LiveCall {
 public:
  explicit LiveCall(v1::LipSync::Stub& stub) : stream_(stub.Live(&context_)) {}
  ~LiveCall() {
    if (!finished_) {
      context_.TryCancel();
      (void)finish();
    }
  }

  bool send(const v1::LiveRequest& request) { return stream_->Write(request); }
  bool speak(std::span<const float> samples, std::size_t chunk = 1600) {
    for (std::size_t at = 0; at < samples.size(); at += chunk) {
      v1::LiveRequest request;
      const auto piece = samples.subspan(at, std::min(chunk, samples.size() - at));
      request.mutable_pcm()->Add(piece.begin(), piece.end());
      if (!send(request)) return false;
    }
    return true;
  }
  bool command(bool interrupt, bool end, bool close = false) {
    v1::LiveRequest request;
    request.set_interrupt(interrupt);
    request.set_end(end);
    request.set_close(close);
    return send(request);
  }

  // The first event, which must be `opened`; none when the call failed.
  std::optional<v1::LiveOpened> opened() {
    v1::LiveEvent event;
    if (!stream_->Read(&event)) return std::nullopt;
    EXPECT_TRUE(event.has_opened()) << event.DebugString();
    return event.opened();
  }
  // The next frame; error events go to `errors`. None when the call ended.
  std::optional<v1::LiveFrame> frame() {
    for (v1::LiveEvent event; stream_->Read(&event);) {
      if (event.has_error()) {
        errors.push_back(event.error());
        continue;
      }
      EXPECT_TRUE(event.has_frame()) << event.DebugString();
      if (event.has_frame()) return event.frame();
    }
    return std::nullopt;
  }
  grpc::Status finish() {
    finished_ = true;
    return stream_->Finish();
  }
  void cancel() { context_.TryCancel(); }
  void writes_done() { stream_->WritesDone(); }

  std::vector<v1::LiveError> errors;

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::LiveRequest, v1::LiveEvent>> stream_;
  bool finished_ = false;
};

class NativeLiveTest : public testing::SyntheticServerTest {
 protected:
  void SetUp() override {
    Config config = this->config();
    config.pipeline.max_batch = 8;
    server_ = start(config, {.preload = false});
    ASSERT_NE(server_, nullptr);
    stub_ = v1::LipSync::NewStub(testing::local_channel(server_->grpc_port()));
  }

  // Waits up to 10 s for the server to have `count` live sessions.
  bool sessions_become(std::size_t count) {
    const auto deadline = SteadyClock::now() + 10s;
    while (server_->live_sessions() != count && SteadyClock::now() < deadline)
      std::this_thread::sleep_for(10ms);
    return server_->live_sessions() == count;
  }

  std::unique_ptr<Server> server_;
  std::unique_ptr<v1::LipSync::Stub> stub_;
};

TEST_F(NativeLiveTest, IdleFramesAtOnceThenSpeechThenIdleInOneUnbrokenSequence) {
  LiveCall call(*stub_);
  v1::LiveRequest open = open_request("a");
  open.mutable_start()->set_audio(true);
  ASSERT_TRUE(call.send(open));
  const auto opened = call.opened();
  ASSERT_TRUE(opened.has_value());
  EXPECT_EQ(opened->session().size(), 32u);
  EXPECT_EQ(opened->width(), testing::kAvatarWidth);
  EXPECT_EQ(opened->height(), testing::kAvatarHeight);
  EXPECT_EQ(opened->fps(), 25);
  EXPECT_NEAR(opened->lookahead_ms(), 452.5, 1e-9);
  EXPECT_FALSE(opened->joined());
  EXPECT_EQ(server_->live_sessions(), 1u);

  std::int64_t last = -1;
  for (int i = 0; i < 5; ++i) {
    auto frame = call.frame();
    ASSERT_TRUE(frame.has_value());
    EXPECT_GT(frame->index(), last);
    EXPECT_EQ(frame->timestamp_ms(), frame->index() * 40);
    EXPECT_EQ(frame->utterance(), 0);
    EXPECT_EQ(frame->audio_size(), 640);
    last = frame->index();
    auto image = media::decode_jpeg(std::span(
        reinterpret_cast<const std::uint8_t*>(frame->jpeg().data()), frame->jpeg().size()));
    ASSERT_TRUE(image.ok()) << image.status().to_string();
    EXPECT_EQ(image->width, testing::kAvatarWidth);
  }
  ASSERT_TRUE(call.speak(tone(1.5)));
  ASSERT_TRUE(call.command(false, true));
  int speech_frames = 0;
  bool idle_again = false;
  const auto deadline = SteadyClock::now() + 60s;
  while (!idle_again && SteadyClock::now() < deadline) {
    auto frame = call.frame();
    ASSERT_TRUE(frame.has_value());
    EXPECT_GT(frame->index(), last);
    last = frame->index();
    if (frame->utterance() == 1) {
      ++speech_frames;
      EXPECT_EQ(frame->audio_size(), 640);
    }
    idle_again = speech_frames > 0 && frame->utterance() == 0;
  }
  EXPECT_TRUE(idle_again);
  // 1.5 s of speech is 37 frames; a reader that falls behind loses the oldest ones, never more.
  EXPECT_GE(speech_frames, 1);
  EXPECT_LE(speech_frames, 38);
  EXPECT_TRUE(call.errors.empty()) << call.errors.front().DebugString();
  ASSERT_TRUE(call.command(false, false, /*close=*/true));
  while (call.frame()) {
  }
  EXPECT_TRUE(call.finish().ok());
  EXPECT_TRUE(sessions_become(0));
}

TEST_F(NativeLiveTest, SpeechAt48kStereoIsShown) {
  LiveCall call(*stub_);
  v1::LiveRequest open = open_request("a");
  open.mutable_start()->set_sample_rate_hz(48000);
  open.mutable_start()->set_channels(2);
  ASSERT_TRUE(call.send(open));
  ASSERT_TRUE(call.opened().has_value());
  const std::vector<float> mono = tone(3.0);  // 48 000 samples: 1 s at 48 kHz
  std::vector<float> stereo;
  for (float v : mono) stereo.insert(stereo.end(), {v, v});
  ASSERT_TRUE(call.speak(stereo, 9600));
  ASSERT_TRUE(call.command(false, true));
  const auto deadline = SteadyClock::now() + 60s;
  bool spoke = false;
  while (!spoke && SteadyClock::now() < deadline) {
    auto frame = call.frame();
    ASSERT_TRUE(frame.has_value());
    spoke = frame->utterance() == 1;
  }
  EXPECT_TRUE(spoke);
  EXPECT_TRUE(call.errors.empty()) << call.errors.front().DebugString();
}

// live.lead_frames reaches the sessions: `opened` tells the session's own lead (2 unless set),
// and a server configured with 1 opens its sessions with 1.
TEST_F(NativeLiveTest, SessionsTakeTheConfiguredLeadAndTellIt) {
  {
    LiveCall call(*stub_);
    ASSERT_TRUE(call.send(open_request("a")));
    const auto opened = call.opened();
    ASSERT_TRUE(opened.has_value());
    EXPECT_EQ(opened->lead_frames(), 2);
  }
  Config config = this->config();
  config.live.lead_frames = 1;
  auto server = start(config, {.preload = false});
  ASSERT_NE(server, nullptr);
  auto stub = v1::LipSync::NewStub(testing::local_channel(server->grpc_port()));
  LiveCall call(*stub);
  ASSERT_TRUE(call.send(open_request("a")));
  const auto opened = call.opened();
  ASSERT_TRUE(opened.has_value());
  EXPECT_EQ(opened->lead_frames(), 1);
  ASSERT_TRUE(call.frame().has_value());  // it streams
}

TEST_F(NativeLiveTest, AnInterruptReturnsToIdleWithinAFewFrames) {
  LiveCall call(*stub_);
  ASSERT_TRUE(call.send(open_request("a")));
  ASSERT_TRUE(call.opened().has_value());
  ASSERT_TRUE(call.speak(tone(8.0)));
  const auto deadline = SteadyClock::now() + 60s;
  std::optional<v1::LiveFrame> frame;
  while (SteadyClock::now() < deadline) {
    frame = call.frame();
    ASSERT_TRUE(frame.has_value());
    if (frame->utterance() != 0) break;
  }
  ASSERT_NE(frame->utterance(), 0);
  const auto interrupted = SteadyClock::now();
  ASSERT_TRUE(call.command(/*interrupt=*/true, false));
  const auto after = testing::frames_after_interrupt(
      [&]() -> std::optional<std::int64_t> {
        frame = call.frame();
        if (!frame) return std::nullopt;
        return frame->utterance();
      },
      interrupted, 60);
  std::printf("interrupt to the first idle frame: %.0f ms (%d speech frames after it)\n",
              after.first_idle_ms, after.speech_frames);
  EXPECT_FALSE(after.stream_ended);
  // Frames already submitted (lead 2) or on their way to this client (8 queued, and what gRPC
  // holds) may still show speech; the 8 s utterance would otherwise go on for 200 frames.
  EXPECT_LE(after.speech_frames, 60);
}

// A session that ends is counted in /metrics' live_* stages: its first frame, how late its
// latest frame was, its interrupt to idle, and its speech audio's lateness and jitter buffer.
TEST_F(NativeLiveTest, AClosedSessionIsCountedInTheMetrics) {
  Config config = this->config();
  config.pipeline.max_batch = 8;
  auto server = start(config, {.http_port = 0, .preload = false});
  ASSERT_NE(server, nullptr);
  const auto count = [&](const std::string& stage) {
    const std::string metrics = testing::http_get(server->http_port(), "/metrics").body;
    const std::string key = "lipsync_stage_duration_ms_count{stage=\"" + stage + "\"} ";
    const auto at = metrics.find(key);
    return at == std::string::npos ? 0 : std::stoi(metrics.substr(at + key.size()));
  };
  ASSERT_EQ(count("live_first_frame"), 0);
  {
    auto stub = v1::LipSync::NewStub(testing::local_channel(server->grpc_port()));
    LiveCall call(*stub);
    ASSERT_TRUE(call.send(open_request("a")));
    ASSERT_TRUE(call.opened().has_value());
    ASSERT_TRUE(call.speak(tone(4.0)));
    std::optional<v1::LiveFrame> frame;
    do {
      frame = call.frame();
      ASSERT_TRUE(frame.has_value());
    } while (frame->utterance() == 0);
    ASSERT_TRUE(call.command(/*interrupt=*/true, false));
    do {
      frame = call.frame();
      ASSERT_TRUE(frame.has_value());
    } while (frame->utterance() != 0);
    call.cancel();
  }
  // The session is counted once it has closed, after it left the server's table.
  const auto deadline = SteadyClock::now() + 10s;
  while (count("live_jitter_buffer") == 0 && SteadyClock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  EXPECT_EQ(server->live_sessions(), 0u);
  for (const char* stage : {"live_first_frame", "live_max_late", "live_interrupt_to_idle",
                            "live_audio_late", "live_jitter_buffer"})
    EXPECT_EQ(count(stage), 1) << stage;
}

TEST_F(NativeLiveTest, ASecondCallJoinsWatchesAndTalksAndTheSessionLivesUntilBothLeave) {
  LiveCall owner(*stub_);
  v1::LiveRequest open = open_request("b");
  open.mutable_start()->set_idle(v1::LIVE_IDLE_SOURCE);
  ASSERT_TRUE(owner.send(open));
  const auto opened = owner.opened();
  ASSERT_TRUE(opened.has_value());

  auto watcher = std::make_unique<LiveCall>(*stub_);
  ASSERT_TRUE(watcher->send(join_request(opened->session())));
  const auto joined = watcher->opened();
  ASSERT_TRUE(joined.has_value());
  EXPECT_EQ(joined->session(), opened->session());
  EXPECT_TRUE(joined->joined());
  EXPECT_EQ(server_->live_sessions(), 1u);
  // Both calls get the same frames; either may skip one under load (a slow reader's frames are
  // dropped), so the two are compared at the first index both received.
  auto seen = watcher->frame();
  auto mine = owner.frame();
  for (int step = 0; step < 250 && seen && mine && mine->index() != seen->index(); ++step) {
    if (mine->index() < seen->index()) {
      mine = owner.frame();
    } else {
      seen = watcher->frame();
    }
  }
  ASSERT_TRUE(seen.has_value() && mine.has_value());
  ASSERT_EQ(mine->index(), seen->index());
  EXPECT_EQ(mine->jpeg(), seen->jpeg());

  // The watcher talks; the owner sees the speech.
  ASSERT_TRUE(watcher->speak(tone(1.0)));
  ASSERT_TRUE(watcher->command(false, true));
  const auto deadline = SteadyClock::now() + 60s;
  bool spoke = false;
  while (!spoke && SteadyClock::now() < deadline) {
    mine = owner.frame();
    ASSERT_TRUE(mine.has_value());
    spoke = mine->utterance() != 0;
  }
  EXPECT_TRUE(spoke);

  watcher.reset();  // cancels: the owner's connection keeps the session
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(server_->live_sessions(), 1u);
  ASSERT_TRUE(owner.frame().has_value());
  owner.cancel();
  EXPECT_TRUE(sessions_become(0));
}

TEST_F(NativeLiveTest, AClientThatGoesAwayClosesItsSessionAtOnce) {
  {
    LiveCall call(*stub_);
    ASSERT_TRUE(call.send(open_request("a")));
    ASSERT_TRUE(call.opened().has_value());
    ASSERT_TRUE(call.frame().has_value());
    EXPECT_EQ(server_->live_sessions(), 1u);
    const auto cancelled = SteadyClock::now();
    call.cancel();
    EXPECT_TRUE(sessions_become(0));
    std::printf("cancel to session closed: %.0f ms\n", ms_since(cancelled));
    EXPECT_EQ(call.finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  {
    // A client whose channel goes away (its process died): the connection closes.
    auto channel = testing::local_channel(server_->grpc_port());
    auto stub = v1::LipSync::NewStub(channel);
    auto call = std::make_unique<LiveCall>(*stub);
    ASSERT_TRUE(call->send(open_request("a")));
    ASSERT_TRUE(call->opened().has_value());
    EXPECT_EQ(server_->live_sessions(), 1u);
    call.reset();
    stub.reset();
    channel.reset();
    EXPECT_TRUE(sessions_become(0));
  }
  {
    // Half-closed (nothing more to say) still watches until it cancels.
    LiveCall call(*stub_);
    ASSERT_TRUE(call.send(open_request("a")));
    ASSERT_TRUE(call.opened().has_value());
    call.writes_done();
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(call.frame().has_value());
    EXPECT_EQ(server_->live_sessions(), 1u);
    call.cancel();
    EXPECT_TRUE(sessions_become(0));
  }
}

TEST_F(NativeLiveTest, BadStartsGetTheirStatusCode) {
  const auto status_of = [&](const v1::LiveRequest& first) {
    LiveCall call(*stub_);
    call.send(first);
    while (call.frame()) {
    }
    return call.finish();
  };
  auto expect = [&](const v1::LiveRequest& first, grpc::StatusCode code, const char* words) {
    const grpc::Status status = status_of(first);
    EXPECT_EQ(status.error_code(), code) << first.DebugString() << status.error_message();
    EXPECT_NE(status.error_message().find(words), std::string::npos) << status.error_message();
  };
  expect(open_request("nobody"), grpc::StatusCode::NOT_FOUND, "nobody");
  expect(open_request("../a"), grpc::StatusCode::INVALID_ARGUMENT, "model_id");
  expect(join_request("0123"), grpc::StatusCode::NOT_FOUND, "no live session");
  expect(join_request("../../etc"), grpc::StatusCode::INVALID_ARGUMENT, "session id");
  expect(v1::LiveRequest(), grpc::StatusCode::INVALID_ARGUMENT, "start");
  v1::LiveRequest rate = open_request("a");
  rate.mutable_start()->set_sample_rate_hz(5);
  expect(rate, grpc::StatusCode::INVALID_ARGUMENT, "sample_rate_hz");
  v1::LiveRequest gate = open_request("a");
  gate.mutable_start()->set_silence_threshold_dbfs(std::numeric_limits<double>::quiet_NaN());
  expect(gate, grpc::StatusCode::INVALID_ARGUMENT, "silence_threshold_dbfs");
  v1::LiveRequest idle = join_request("0123");
  idle.mutable_start()->set_idle(v1::LIVE_IDLE_SOURCE);
  expect(idle, grpc::StatusCode::INVALID_ARGUMENT, "opens a session");
  EXPECT_EQ(server_->live_sessions(), 0u);
}

TEST_F(NativeLiveTest, BadRequestsInASessionAreAnsweredWithErrorsAndTheSessionGoesOn) {
  LiveCall call(*stub_);
  v1::LiveRequest open = open_request("a");
  open.mutable_start()->set_channels(2);
  ASSERT_TRUE(call.send(open));
  ASSERT_TRUE(call.opened().has_value());
  v1::LiveRequest odd;
  for (float v : {0.1f, 0.2f, 0.3f}) odd.add_pcm(v);  // not a whole number of stereo samples
  ASSERT_TRUE(call.send(odd));
  v1::LiveRequest nan;
  for (float v : {0.1f, std::numeric_limits<float>::quiet_NaN()}) nan.add_pcm(v);
  ASSERT_TRUE(call.send(nan));
  ASSERT_TRUE(call.send(open_request("b")));  // a second start
  const auto deadline = SteadyClock::now() + 30s;
  while (call.errors.size() < 3 && SteadyClock::now() < deadline)
    ASSERT_TRUE(call.frame().has_value());
  ASSERT_EQ(call.errors.size(), 3u);
  std::string all;
  for (const auto& error : call.errors) {
    EXPECT_EQ(error.code(), "INVALID_ARGUMENT") << error.message();
    all += error.message() + "\n";
  }
  EXPECT_NE(all.find("whole number"), std::string::npos) << all;
  EXPECT_NE(all.find("first LiveRequest only"), std::string::npos) << all;
  ASSERT_TRUE(call.frame().has_value());  // still live
  EXPECT_EQ(server_->live_sessions(), 1u);
}

}  // namespace
}  // namespace lipsync::server
