// The server against hostile or careless clients (issue #19 items 3-6, the network half): model
// ids validated on every API, NaN refused, no server paths in answers, readiness that reflects
// failed required models, expired calls dropped from the queue, WebSocket limits on the real
// /ws/render, and a shutdown that ends within its grace with a last word to WebSocket clients.
#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <future>
#include <limits>
#include <nlohmann/json.hpp>
#include <thread>

#include "pipeline/lipsync_model.h"
#include "proto/lipsync_v1.grpc.pb.h"
#include "proto/monolithic.grpc.pb.h"
#include "server/grpc_status.h"
#include "server/server.h"
#include "support/http_get.h"
#include "support/synthetic_server_test.h"

namespace lipsync::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using monolithic::CompositeBatchRequest;
using monolithic::CompositeBatchResponse;
using nlohmann::json;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

std::string float_bytes(const std::vector<float>& values) {
  return {reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)};
}

// A native request for `model` with `samples` of noise at 16 kHz.
v1::RenderRequest noise_request(const std::string& model, std::size_t samples) {
  v1::RenderRequest request;
  request.set_model_id(model);
  const auto pcm = testing::noise(samples);
  request.mutable_audio()->mutable_pcm()->set_sample_rate_hz(16000);
  request.mutable_audio()->mutable_pcm()->mutable_samples()->Add(pcm.begin(), pcm.end());
  return request;
}

CompositeBatchRequest compat_request(const std::string& model, int batch, int start = 0) {
  CompositeBatchRequest request;
  request.set_model_id(model);
  request.set_batch_size(batch);
  request.set_start_frame_idx(start);
  request.set_raw_audio(float_bytes(testing::noise(static_cast<std::size_t>(batch + 15) * 640)));
  return request;
}

class Compat {
 public:
  explicit Compat(int port)
      : stub_(monolithic::MonolithicService::NewStub(testing::local_channel(port))) {}
  CompositeBatchResponse infer(const CompositeBatchRequest& request,
                               std::optional<milliseconds> deadline = std::nullopt,
                               grpc::Status* status = nullptr) {
    grpc::ClientContext context;
    if (deadline) context.set_deadline(std::chrono::system_clock::now() + *deadline);
    CompositeBatchResponse response;
    const grpc::Status call = stub_->InferBatchComposite(&context, request, &response);
    if (status != nullptr) *status = call;
    if (!deadline) {
      EXPECT_TRUE(call.ok()) << call.error_message();
    }
    return response;
  }
  monolithic::LoadModelResponse load(const std::string& id) {
    grpc::ClientContext context;
    monolithic::LoadModelRequest request;
    request.set_model_id(id);
    monolithic::LoadModelResponse response;
    EXPECT_TRUE(stub_->LoadModel(&context, request, &response).ok());
    return response;
  }

 private:
  std::unique_ptr<monolithic::MonolithicService::Stub> stub_;
};

class Native {
 public:
  explicit Native(int port) : stub_(v1::LipSync::NewStub(testing::local_channel(port))) {}
  grpc::Status get(const std::string& id, v1::Model& model) {
    grpc::ClientContext context;
    v1::GetModelRequest request;
    request.set_model_id(id);
    return stub_->GetModel(&context, request, &model);
  }
  grpc::Status load(const std::string& id) {
    grpc::ClientContext context;
    v1::LoadModelRequest request;
    request.set_model_id(id);
    v1::Model model;
    return stub_->LoadModel(&context, request, &model);
  }
  grpc::Status render(const std::string& id, std::size_t samples) {
    grpc::ClientContext context;
    v1::RenderResponse response;
    return stub_->Render(&context, noise_request(id, samples), &response);
  }
  v1::ListModelsResponse list() {
    grpc::ClientContext context;
    v1::ListModelsResponse response;
    EXPECT_TRUE(stub_->ListModels(&context, {}, &response).ok());
    return response;
  }
  v1::LipSync::Stub& stub() { return *stub_; }

 private:
  std::unique_ptr<v1::LipSync::Stub> stub_;
};

struct WebSocket {
  asio::io_context io;
  websocket::stream<asio::ip::tcp::socket> ws{io};

  explicit WebSocket(int port) {
    ws.next_layer().connect(
        {asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
    ws.handshake("127.0.0.1", "/ws/render");
  }
  void send_text(const std::string& text) {
    ws.text(true);
    ws.write(asio::buffer(text));
  }
  // The next message (binary frames as "<binary>"), or "" once the server closed.
  std::string read() {
    beast::flat_buffer buffer;
    beast::error_code ec;
    ws.read(buffer, ec);
    if (ec) return {};
    return ws.got_binary() ? std::string("<binary>") : beast::buffers_to_string(buffer.data());
  }
  // The last text message before the server closed.
  std::string last_text() {
    std::string last;
    for (std::string message; !(message = read()).empty();)
      if (message != "<binary>") last = message;
    return last;
  }
  std::string close_reason() const {
    return {ws.reason().reason.data(), ws.reason().reason.size()};
  }
};

std::string wav_bytes(double seconds) {
  const auto samples = testing::noise(static_cast<std::size_t>(seconds * 16000));
  std::string wav = "RIFF0000WAVEfmt ";
  const auto u32 = [&](std::uint32_t v) { wav.append(reinterpret_cast<const char*>(&v), 4); };
  const auto u16 = [&](std::uint16_t v) { wav.append(reinterpret_cast<const char*>(&v), 2); };
  u32(16), u16(1), u16(1), u32(16000), u32(32000), u16(2), u16(16);
  wav += "data";
  u32(static_cast<std::uint32_t>(samples.size() * 2));
  for (float v : samples) u16(static_cast<std::uint16_t>(static_cast<std::int16_t>(v * 32767)));
  return wav;
}

class HardeningTest : public testing::SyntheticServerTest {
 protected:
  static Config http_config(const std::vector<std::string>& ids = {"a"}) {
    Config c = config(ids);
    c.server.http_port = 0;
    return c;
  }
  static std::unique_ptr<Server> start_http(Config c, ServerOptions options = {}) {
    options.http_port = 0;
    return start(std::move(c), options);
  }
};

TEST(ClientMessage, ServerPathsAreReducedToNamesAndLongMessagesCutToFitATrailer) {
  const Status load =
      make_error(ErrorCode::kFailedPrecondition,
                 "model 'a' failed to load: cannot open '/srv/lipsync/a/unet.onnx'");
  EXPECT_EQ(client_message(load), "model 'a' failed to load: cannot open 'unet.onnx'");
  EXPECT_EQ(client_error(load),
            "FAILED_PRECONDITION: model 'a' failed to load: cannot open 'unet.onnx'");
  EXPECT_EQ(to_grpc_status(load).error_message(), client_message(load));
  const Status huge(ErrorCode::kNotFound, std::string(1 << 20, 'q'));
  const std::string cut = client_message(huge);
  EXPECT_EQ(cut.size(), kMaxClientMessageBytes + std::string("...(1046528 more bytes)").size());
  EXPECT_EQ(cut.substr(kMaxClientMessageBytes), "...(1046528 more bytes)");
}

TEST_F(HardeningTest, CompatRefusesBadIdsAndNonFiniteInputsAndAcceptsEmptyLegacyFeatures) {
  auto server = start(config({"a"}));
  ASSERT_NE(server, nullptr);
  Compat client(server->grpc_port());
  const auto huge = client.infer(compat_request(std::string(50 << 20, 'x'), 1));
  EXPECT_FALSE(huge.success());
  EXPECT_NE(huge.error().find("INVALID_ARGUMENT: model_id is 52428800 bytes long; at most 128"),
            std::string::npos)
      << huge.error().substr(0, 200);
  EXPECT_LT(huge.error().size(), 300u);
  const auto forged = client.infer(compat_request("a\nE [server] FAKE LINE\x1b[0m", 1));
  EXPECT_NE(forged.error().find("has '\\n' at byte 1"), std::string::npos) << forged.error();
  EXPECT_EQ(forged.error().find('\n'), std::string::npos);
  EXPECT_NE(client.load(std::string(10'000, 'y')).error().find("INVALID_ARGUMENT"),
            std::string::npos);

  const float nan = std::numeric_limits<float>::quiet_NaN();
  CompositeBatchRequest legacy = compat_request("a", 1);
  legacy.clear_raw_audio();
  std::vector<float> features(8192, 0.1f);
  features[7] = nan;
  legacy.set_audio_features(float_bytes(features));
  EXPECT_NE(client.infer(legacy).error().find("audio_features holds nan at float 7"),
            std::string::npos);
  CompositeBatchRequest visual = compat_request("a", 1);
  std::vector<float> tensor(6 * 320 * 320, 0.5f);
  tensor[100] = std::numeric_limits<float>::infinity();
  visual.set_visual_frames(float_bytes(tensor));
  EXPECT_NE(client.infer(visual).error().find("visual_frames holds inf at float 100"),
            std::string::npos);
  // Empty audio_features (every older client's call): no memcpy from a null pointer (UBSan).
  const auto plain = client.infer(compat_request("a", 2));
  EXPECT_TRUE(plain.success()) << plain.error();
  EXPECT_EQ(plain.composited_frames_size(), 2);
}

TEST_F(HardeningTest, NativeIdsAreCheckedBeforeUseSoLongIdsDoNotOverflowMetadata) {
  auto server = start(config({"a"}));
  ASSERT_NE(server, nullptr);
  Native client(server->grpc_port());
  v1::Model model;
  for (const std::string& id : {std::string(10'000, 'n'), std::string(1 << 20, 'n')}) {
    const grpc::Status get = client.get(id, model);
    EXPECT_EQ(get.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << get.error_message();
    EXPECT_NE(get.error_message().find("at most 128 are allowed"), std::string::npos);
    EXPECT_EQ(client.load(id).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(client.render(id, 8000).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  const grpc::Status escaped = client.get("a\r\nb", model);
  EXPECT_EQ(escaped.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(escaped.error_message().find("'a\\r\\nb' has '\\r' at byte 1"), std::string::npos)
      << escaped.error_message();
  EXPECT_EQ(client.get(std::string(128, 'z'), model).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(HardeningTest, AnswersNameFilesWithoutTheServersPaths) {
  Config c = http_config({"a", "broken"});
  c.models["broken"].model_path = *dir_ / "models" / "missing.onnx";
  auto server = start_http(c);
  ASSERT_NE(server, nullptr);
  const std::string secret = dir_->string();
  Compat compat(server->grpc_port());
  const auto infer = compat.infer(compat_request("broken", 1));
  EXPECT_FALSE(infer.success());
  EXPECT_NE(infer.error().find("missing.onnx"), std::string::npos) << infer.error();
  EXPECT_EQ(infer.error().find(secret), std::string::npos) << infer.error();
  Native native(server->grpc_port());
  const grpc::Status load = native.load("broken");
  EXPECT_EQ(load.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(load.error_message().find(secret), std::string::npos) << load.error_message();
  const v1::ListModelsResponse listed = native.list();  // models() refers into it
  for (const auto& model : listed.models())
    EXPECT_EQ(model.failure_reason().find(secret), std::string::npos) << model.failure_reason();
  const auto page = testing::http_get(server->http_port(), "/api/models");
  EXPECT_NE(page.body.find("missing.onnx"), std::string::npos) << page.body;
  EXPECT_EQ(page.body.find(secret), std::string::npos) << page.body;
}

TEST_F(HardeningTest, ReadinessIs503WhileARequiredModelHasFailed) {
  Config c = http_config({"a", "broken"});
  c.models["broken"].model_path = *dir_ / "missing.onnx";
  c.models["a"].preload_model = c.models["broken"].preload_model = true;
  c.models["a"].required = c.models["broken"].required = true;  // what preloading implies
  {
    auto server = start_http(c);
    ASSERT_NE(server, nullptr);
    EXPECT_EQ(testing::http_get(server->http_port(), "/health/ready").status, 503);
    EXPECT_EQ(testing::http_get(server->http_port(), "/health/live").status, 200);
  }
  c.models["broken"].required = false;  // an optional model may fail
  auto server = start_http(c);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(testing::http_get(server->http_port(), "/health/ready").status, 200);
}

// Calls whose deadline passed while they waited are dropped from the queue, not rendered
// (issue #19: after 51 expired requests the next took 2.64 s instead of 0.09 s).
TEST_F(HardeningTest, ExpiredCompatCallsAreDroppedFromTheQueue) {
  Config c = config({"a"});
  c.pipeline = {.max_batch = 1, .max_queue_delay_ms = 0, .max_queue_depth = 64};
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  auto inner = pipeline::lipsync_model_loader({.session = {.intra_op_threads = 1}});
  ServerOptions options;
  options.loader = [&](const ModelConfig& m) -> Result<std::shared_ptr<registry::LoadedModel>> {
    entered.set_value();
    gate.wait();
    return inner(m);
  };
  auto server = start(c, options);
  ASSERT_NE(server, nullptr);
  auto first = std::async(std::launch::async, [&] {
    return Compat(server->grpc_port()).infer(compat_request("a", 1));
  });
  entered.get_future().wait();  // the model's owner is busy loading for request 1
  constexpr int kExpired = 8;
  std::vector<std::future<grpc::Status>> expired;
  for (int i = 0; i < kExpired; ++i) {
    expired.push_back(std::async(std::launch::async, [&, i] {
      grpc::Status status;
      Compat(server->grpc_port()).infer(compat_request("a", 1, i + 1), milliseconds(300), &status);
      return status;
    }));
  }
  for (auto& call : expired)
    EXPECT_EQ(call.get().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  release.set_value();
  EXPECT_TRUE(first.get().success());
  EXPECT_TRUE(Compat(server->grpc_port()).infer(compat_request("a", 1, 20)).success());
  const auto stats = server->scheduler().stats();
  EXPECT_EQ(stats.frames, 2);  // the first and the last: none of the expired ones
  EXPECT_LE(stats.cancelled, kExpired);
}

TEST_F(HardeningTest, WebSocketJobLimitsOnTheRenderPage) {
  {  // silent: closed at the deadline, the slot freed
    Config c = http_config();
    c.server.ws_first_message_timeout_ms = 300;
    auto server = start_http(c);
    ASSERT_NE(server, nullptr);
    WebSocket silent(server->http_port());
    EXPECT_EQ(silent.last_text(), "");
    EXPECT_EQ(silent.ws.reason().code, websocket::close_code::policy_error);
    EXPECT_EQ(silent.close_reason(), "no message within 300 ms of opening");
  }
  // The default deadline (10 s) for the rest: sending 10 MB may take longer than 300 ms on a
  // loaded machine.
  auto server = start_http(http_config());
  ASSERT_NE(server, nullptr);
  {  // a 10 MB nested JSON array: refused unparsed
    WebSocket big(server->http_port());
    big.send_text(std::string(5 << 20, '[') + std::string(5 << 20, ']'));
    const json error = json::parse(big.last_text());
    EXPECT_NE(error["error"].get<std::string>().find("over 4096 bytes"), std::string::npos)
        << error.dump();
  }
  {  // a forged log line as the model id
    WebSocket forged(server->http_port());
    forged.send_text(json{{"model", "a\nE [server] FAKE"}}.dump());
    const json error = json::parse(forged.last_text());
    EXPECT_NE(error["error"].get<std::string>().find("INVALID_ARGUMENT: \"model\" 'a\\nE"),
              std::string::npos)
        << error.dump();
  }
  WebSocket good(server->http_port());
  good.send_text(json{{"model", "a"}}.dump());
  good.ws.binary(true);
  good.ws.write(asio::buffer(wav_bytes(0.5)));
  EXPECT_TRUE(json::parse(good.last_text()).value("done", false));
}

// SIGTERM with renders in flight (issue #19: 10-15 s, WebSocket clients dropped silently):
// readiness turns 503 first, WebSocket clients get the reason, everything ends within the grace
// plus a second (a generous bound: queued batches are dropped, only running ones finish).
TEST_F(HardeningTest, ShutdownEndsWithinTheGraceAndTellsWebSocketClientsWhy) {
  Config c = http_config();
  c.pipeline.max_batch = 2;
  c.server.shutdown_grace_ms = 1500;  // room for the page's handler under ASan on a busy machine
  auto server = start_http(c);
  ASSERT_NE(server, nullptr);
  const int http_port = server->http_port();
  std::vector<std::future<grpc::Status>> streams;
  std::vector<std::promise<void>> started(3);
  for (int i = 0; i < 3; ++i) {
    streams.push_back(std::async(std::launch::async, [&, i] {
      Native native(server->grpc_port());
      grpc::ClientContext context;
      // 1500 frames: far more than the grace
      const v1::RenderRequest request = noise_request("a", 60 * 16000);
      auto reader = native.stub().RenderStream(&context, request);
      v1::RenderResponse message;
      bool first = true;
      while (reader->Read(&message)) {
        if (first) started[i].set_value();
        first = false;
      }
      if (first) started[i].set_value();
      return reader->Finish();
    }));
  }
  WebSocket page(http_port);
  page.send_text(json{{"model", "a"}}.dump());
  page.ws.binary(true);
  page.ws.write(asio::buffer(wav_bytes(60)));
  EXPECT_NE(page.read(), "");  // the start message: rendering
  for (auto& s : started) s.get_future().wait();

  const auto begin = Clock::now();
  auto stopping = std::async(std::launch::async, [&] { server->shutdown(); });
  int attempts = 0;
  while (testing::http_get(http_port, "/health/ready").status != 503) ASSERT_LT(++attempts, 10000);
  const std::string last = page.last_text();
  stopping.get();
  server.reset();  // the scheduler drains (queued batches were dropped) and the models go
  const auto took = Clock::now() - begin;
  EXPECT_LT(took, milliseconds(c.server.shutdown_grace_ms) + std::chrono::seconds(1))
      << std::chrono::duration<double>(took).count() << " s";
  EXPECT_EQ(json::parse(last)["error"], "UNAVAILABLE: the server is shutting down") << last;
  EXPECT_EQ(page.ws.reason().code, websocket::close_code::going_away);
  EXPECT_EQ(page.close_reason(), "the server is shutting down");
  for (auto& stream : streams) EXPECT_FALSE(stream.get().ok());
}

// server.shutdown_drain_ms (a cluster behind a proxy): readiness turns 503 at once, yet calls
// that arrive while the proxy's checks have not seen it yet are served, not refused; after the
// drain the grace applies as before.
TEST_F(HardeningTest, ShutdownDrainServesCallsWhileNotReady) {
  Config c = http_config();
  c.server.shutdown_drain_ms = 3000;
  c.server.shutdown_grace_ms = 200;
  auto server = start_http(c);
  ASSERT_NE(server, nullptr);
  const int http_port = server->http_port();
  Native native(server->grpc_port());
  const v1::RenderRequest request = noise_request("a", 16000 / 5);  // 0.2 s: 5 frames
  {  // the model loaded before the drain: the call below times the drain, not a load (slow under
     // ASan on a busy CI machine)
    grpc::ClientContext context;
    v1::RenderResponse response;
    ASSERT_TRUE(native.stub().Render(&context, request, &response).ok());
  }
  const auto begin = Clock::now();
  auto stopping = std::async(std::launch::async, [&] { server->shutdown(); });
  int attempts = 0;
  while (testing::http_get(http_port, "/health/ready").status != 503) ASSERT_LT(++attempts, 10000);
  grpc::ClientContext context;
  v1::RenderResponse response;
  const grpc::Status status = native.stub().Render(&context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_LT(Clock::now() - begin, milliseconds(c.server.shutdown_drain_ms))
      << "the call was not answered within the drain";
  stopping.get();
  EXPECT_GE(Clock::now() - begin, milliseconds(c.server.shutdown_drain_ms));
}

// A call still running when the drain ends keeps its connection: the shutdown waits for it (within
// the grace) and then for its answer to leave (the server's kAnswerFlush, 500 ms) before gRPC
// closes the connections; gRPC alone closes each one as soon as its last answer is written, and
// behind a proxy that lost an answer's end in a rolling restart (tests/cluster).
TEST_F(HardeningTest, ShutdownWaitsForCallsInFlightAndForTheirAnswersToLeave) {
  Config c = http_config();
  c.server.shutdown_grace_ms = 10000;
  auto server = start_http(c);
  ASSERT_NE(server, nullptr);
  Native native(server->grpc_port());
  const v1::RenderRequest request = noise_request("a", 16000);  // 1 s
  int clip_frames = 0;
  {  // the same audio rendered whole: how many frames the session must return
    grpc::ClientContext context;
    v1::RenderResponse response;
    ASSERT_TRUE(native.stub().Render(&context, request, &response).ok());
    clip_frames = response.frames_size();
  }
  grpc::ClientContext context;
  auto stream = native.stub().Session(&context);
  v1::SessionRequest start;
  start.mutable_start()->set_model_id("a");
  start.mutable_start()->set_sample_rate_hz(16000);
  ASSERT_TRUE(stream->Write(start));
  v1::SessionRequest audio;
  *audio.mutable_pcm() = request.audio().pcm().samples();  // the audio rendered above
  ASSERT_TRUE(stream->Write(audio));
  v1::RenderResponse message;
  ASSERT_TRUE(stream->Read(&message)) << "the session produced no frame";
  int frames = message.frames_size();

  auto stopping = std::async(std::launch::async, [&] { server->shutdown(); });
  EXPECT_EQ(stopping.wait_for(milliseconds(300)), std::future_status::timeout)
      << "the shutdown did not wait for the session in flight";
  const auto end_sent = Clock::now();
  v1::SessionRequest end;
  end.set_end(true);
  ASSERT_TRUE(stream->Write(end));
  stream->WritesDone();
  while (stream->Read(&message)) frames += message.frames_size();
  const grpc::Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(frames, clip_frames);
  stopping.get();
  // The handler returned after the end was sent; the connection stayed for the flush after it.
  EXPECT_GE(Clock::now() - end_sent, milliseconds(500));
  EXPECT_LT(Clock::now() - end_sent, milliseconds(c.server.shutdown_grace_ms));
}

}  // namespace
}  // namespace lipsync::server
