// The native service (lipsync.v1) end to end: a real server in-process on port 0, the tiny
// models, a synthetic avatar, and a gRPC client sending audio only. Its frames must equal the
// offline pipeline's (`lipsync render`'s render_clip on the same model) frame for frame.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <future>
#include <iterator>
#include <random>
#include <thread>

#include "audio/audio_decoder.h"
#include "support/test_audio_writer.h"
#include "media/jpeg_codec.h"
#include "pipeline/batch_window.h"
#include "pipeline/clip_plan.h"
#include "pipeline/lipsync_model.h"
#include "pipeline/onnx_feature_encoder.h"
#include "proto/lipsync_v1.grpc.pb.h"
#include "server/grpc_status.h"
#include "server/server.h"
#include "support/test_paths.h"
#include "support/synthetic_avatar.h"
#include "support/synthetic_server_test.h"

namespace lipsync::server {
namespace {

namespace fs = std::filesystem;
using imaging::SequenceMode;

constexpr int kFrames = testing::SyntheticServerTest::kFrames;

v1::RenderRequest pcm_request(const std::string& model, std::span<const float> samples,
                              int rate_hz = 16000) {
  v1::RenderRequest request;
  request.set_model_id(model);
  request.mutable_audio()->mutable_pcm()->set_sample_rate_hz(rate_hz);
  request.mutable_audio()->mutable_pcm()->mutable_samples()->Add(samples.begin(), samples.end());
  return request;
}

class NativeClient {
 public:
  explicit NativeClient(int port) { stub_ = v1::LipSync::NewStub(testing::local_channel(port)); }

  grpc::Status render(const v1::RenderRequest& request, v1::RenderResponse& response) {
    grpc::ClientContext context;
    return stub_->Render(&context, request, &response);
  }
  // All messages of a RenderStream call; `status` gets the call's final status.
  std::vector<v1::RenderResponse> stream(const v1::RenderRequest& request, grpc::Status& status) {
    grpc::ClientContext context;
    auto reader = stub_->RenderStream(&context, request);
    std::vector<v1::RenderResponse> messages;
    for (v1::RenderResponse message; reader->Read(&message);) messages.push_back(message);
    status = reader->Finish();
    return messages;
  }
  grpc::Status load(const std::string& id, v1::Model& model) {
    grpc::ClientContext context;
    v1::LoadModelRequest request;
    request.set_model_id(id);
    return stub_->LoadModel(&context, request, &model);
  }
  grpc::Status unload(const std::string& id, v1::Model& model) {
    grpc::ClientContext context;
    v1::UnloadModelRequest request;
    request.set_model_id(id);
    return stub_->UnloadModel(&context, request, &model);
  }
  grpc::Status get(const std::string& id, v1::Model& model) {
    grpc::ClientContext context;
    v1::GetModelRequest request;
    request.set_model_id(id);
    return stub_->GetModel(&context, request, &model);
  }
  v1::LipSync::Stub& stub() { return *stub_; }

 private:
  std::unique_ptr<v1::LipSync::Stub> stub_;
};

class NativeServiceTest : public testing::SyntheticServerTest {
 protected:
  // render_clip (`lipsync render`'s pipeline: a plan, a scheduler of its own) on the server's
  // own model of `id`.
  static std::vector<Image> offline(Server& server, const std::string& id,
                                    std::span<const float> samples, SequenceMode mode,
                                    std::int64_t start, int max_batch) {
    auto mel = audio::MelAnalyzer::create();
    auto encoder = pipeline::OnnxFeatureEncoder::create(
        testing::test_models_dir() / "encoder_tiny.onnx", {.intra_op_threads = 1});
    EXPECT_TRUE(mel.ok() && encoder.ok());
    auto plan = pipeline::plan_clip({.model_id = id, .sequence = mode, .start_frame = start},
                                    samples, **mel, **encoder, server.registry());
    EXPECT_TRUE(plan.ok()) << plan.status().to_string();
    const PipelineSection batching{.max_batch = max_batch, .max_queue_delay_ms = 0};
    pipeline::Scheduler scheduler(server.registry(), batching, nullptr);
    std::vector<Image> frames;
    auto stats =
        pipeline::render_clip(scheduler, *plan, batching, [&](std::int64_t, const Image& frame) {
          frames.push_back(frame);
          return Status();
        });
    EXPECT_TRUE(stats.ok()) << stats.status().to_string();
    return frames;
  }

  static void expect_raw_equal(const v1::RenderResponse& response,
                               const std::vector<Image>& expected) {
    ASSERT_EQ(response.frames_size(), static_cast<int>(expected.size()));
    for (std::size_t i = 0; i < expected.size(); ++i) {
      const std::string& data = response.frames(static_cast<int>(i)).data();
      const auto& pixels = expected[i].pixels;
      ASSERT_EQ(data.size(), pixels.size()) << "frame " << i;
      EXPECT_TRUE(std::equal(pixels.begin(), pixels.end(),
                             reinterpret_cast<const std::uint8_t*>(data.data())))
          << "frame " << i;
    }
  }

  // The server still renders a good request.
  static void expect_serving(NativeClient& client) {
    v1::RenderResponse response;
    const grpc::Status status = client.render(pcm_request("a", testing::noise(8000)), response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_GT(response.frames_size(), 0);
  }
};

TEST_F(NativeServiceTest, RawRenderEqualsTheOfflinePipelineFrameForFrame) {
  auto server = start(config());
  ASSERT_NE(server, nullptr);
  NativeClient client(server->grpc_port());
  const auto samples =
      testing::noise(16000);  // 1 s: 24 frames, more than the avatar's 12 (ping-pong)
  v1::RenderRequest request = pcm_request("a", samples);
  request.mutable_output()->set_format(v1::FRAME_FORMAT_RAW_BGR);
  v1::RenderResponse response;
  const grpc::Status status = client.render(request, response);
  ASSERT_TRUE(status.ok()) << status.error_message();

  const auto expected = offline(*server, "a", samples, SequenceMode::kPingPong, 0, 25);
  ASSERT_EQ(expected.size(), 24u);
  expect_raw_equal(response, expected);
  EXPECT_EQ(response.format(), v1::FRAME_FORMAT_RAW_BGR);
  EXPECT_EQ(response.width(), testing::kAvatarWidth);
  EXPECT_EQ(response.height(), testing::kAvatarHeight);
  EXPECT_EQ(response.clip_frames(), 24);
  for (int i = 0; i < response.frames_size(); ++i) {
    EXPECT_EQ(response.frames(i).index(), i);
    EXPECT_EQ(response.frames(i).timestamp_ms(), 40 * i);
    EXPECT_EQ(response.frames(i).source_frame(),
              imaging::source_frame_index(SequenceMode::kPingPong, i, kFrames));
  }
  EXPECT_TRUE(response.model_loaded());  // nothing preloaded: this request loaded it
  EXPECT_GT(response.model_load_ms(), 0.0);
  EXPECT_GT(response.timings().audio_ms(), 0.0);
  EXPECT_GT(response.timings().inference_ms(), 0.0);
  EXPECT_GE(response.timings().total_ms(), response.timings().inference_ms());
}

// Mean absolute difference of two same-sized BGR images.
double mean_abs_diff(const Image& a, const Image& b) {
  double sum = 0;
  for (std::size_t i = 0; i < a.pixels.size(); ++i) sum += std::abs(a.pixels[i] - b.pixels[i]);
  return sum / static_cast<double>(a.pixels.size());
}

v1::RenderResponse jpeg_render(NativeClient& client, std::span<const float> samples, int quality) {
  v1::RenderRequest request = pcm_request("a", samples);
  request.set_sequence_mode(v1::SEQUENCE_MODE_WRAP);
  request.set_start_frame(5);
  request.mutable_output()->set_jpeg_quality(quality);
  v1::RenderResponse response;
  const grpc::Status status = client.render(request, response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.format(), v1::FRAME_FORMAT_JPEG);
  for (int i = 0; i < response.frames_size(); ++i)
    EXPECT_EQ(response.frames(i).source_frame(), (5 + i) % kFrames);
  return response;
}

TEST_F(NativeServiceTest, JpegRenderEqualsEncodingTheOfflineFrames) {
  auto server = start(config());
  ASSERT_NE(server, nullptr);
  NativeClient client(server->grpc_port());
  const auto samples = testing::noise(12000, 7);
  const auto expected = offline(*server, "a", samples, SequenceMode::kWrap, 5, 25);
  // Quality 90 is not the store's (75): each frame is composited and encoded whole, so the bytes
  // equal encoding the offline frame.
  const v1::RenderResponse whole = jpeg_render(client, samples, 90);
  ASSERT_EQ(whole.frames_size(), static_cast<int>(expected.size()));
  for (int i = 0; i < whole.frames_size(); ++i) {
    auto jpeg = media::encode_jpeg(expected[static_cast<std::size_t>(i)].view(),
                                   {90, ChromaSubsampling::k420});
    ASSERT_TRUE(jpeg.ok());
    EXPECT_TRUE(whole.frames(i).data() == std::string(jpeg->begin(), jpeg->end())) << i;
  }
  // The store's quality: the face is spliced into the stored background's entropy-coded rows
  // (encoded from the original pixels, not the frame's decoded background), so compare pixels.
  const v1::RenderResponse spliced = jpeg_render(client, samples, 0);
  ASSERT_EQ(spliced.frames_size(), static_cast<int>(expected.size()));
  for (int i = 0; i < spliced.frames_size(); ++i) {
    const std::string& data = spliced.frames(i).data();
    auto image = media::decode_jpeg(
        std::span(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
    ASSERT_TRUE(image.ok());
    EXPECT_LT(mean_abs_diff(*image, expected[static_cast<std::size_t>(i)]), 3.0) << i;
  }
}

TEST_F(NativeServiceTest, RenderStreamReturnsTheSameFramesInOrder) {
  Config c = config({"a"});
  c.pipeline.max_batch = 4;  // 24 frames: 6 batches, at most kBatchesInFlight at once
  auto server = start(c);
  ASSERT_NE(server, nullptr);
  NativeClient client(server->grpc_port());
  v1::RenderRequest request = pcm_request("a", testing::noise(16000, 9));
  request.set_start_frame(3);
  v1::RenderResponse whole;
  ASSERT_TRUE(client.render(request, whole).ok());
  grpc::Status status;
  const auto messages = client.stream(request, status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(messages.size(), 6u);
  EXPECT_TRUE(messages[0].timings().audio_ms() > 0.0);
  int next = 0;
  for (const auto& message : messages) {
    EXPECT_EQ(message.clip_frames(), 24);
    EXPECT_EQ(message.width(), testing::kAvatarWidth);
    EXPECT_GT(message.timings().inference_ms(), 0.0);
    for (const auto& frame : message.frames()) {
      ASSERT_LT(next, whole.frames_size());
      EXPECT_EQ(frame.index(), next);
      EXPECT_EQ(frame.source_frame(),
                imaging::source_frame_index(SequenceMode::kPingPong, 3 + next, kFrames));
      EXPECT_EQ(frame.data(), whole.frames(next).data()) << "frame " << next;
      ++next;
    }
  }
  EXPECT_EQ(next, 24);
  EXPECT_EQ(server->scheduler().stats().largest_batch_frames, 4);
}

TEST_F(NativeServiceTest, PcmAt44kAndAnEncodedWavEqualTheOfflinePipeline) {
  auto server = start(config());
  ASSERT_NE(server, nullptr);
  NativeClient client(server->grpc_port());
  const auto pcm_44k = testing::noise(44100, 13);
  auto resampled = audio::convert_pcm(pcm_44k, 44100, 1);
  ASSERT_TRUE(resampled.ok());
  v1::RenderRequest request = pcm_request("a", pcm_44k, 44100);
  request.mutable_output()->set_format(v1::FRAME_FORMAT_RAW_BGR);
  v1::RenderResponse response;
  ASSERT_TRUE(client.render(request, response).ok());
  expect_raw_equal(response, offline(*server, "a", *resampled, SequenceMode::kPingPong, 0, 25));

  // A stereo 44.1 kHz WAV, decoded as `lipsync render --audio` decodes it.
  const fs::path wav = *dir_ / "speech.wav";
  ASSERT_TRUE(
      audio::testing::write_test_audio(wav, testing::noise(20000, 17), {"pcm_s16le", ".wav"}).ok());
  auto decoded = audio::decode_audio_file(wav);
  ASSERT_TRUE(decoded.ok());
  std::ifstream in(wav, std::ios::binary);
  v1::RenderRequest encoded;
  encoded.set_model_id("a");
  encoded.mutable_audio()->set_encoded(std::string(std::istreambuf_iterator<char>(in), {}));
  encoded.mutable_output()->set_format(v1::FRAME_FORMAT_RAW_BGR);
  v1::RenderResponse from_wav;
  const grpc::Status status = client.render(encoded, from_wav);
  ASSERT_TRUE(status.ok()) << status.error_message();
  expect_raw_equal(from_wav, offline(*server, "a", *decoded, SequenceMode::kPingPong, 0, 25));
}

TEST_F(NativeServiceTest, BadRequestsGetTheirStatusCodeAndTheServerKeepsServing) {
  auto server = start(config());
  ASSERT_NE(server, nullptr);
  NativeClient client(server->grpc_port());
  auto expect_code = [&](const v1::RenderRequest& request, grpc::StatusCode code,
                         const std::string& words) {
    SCOPED_TRACE(words);
    v1::RenderResponse response;
    const grpc::Status status = client.render(request, response);
    EXPECT_EQ(status.error_code(), code) << status.error_message();
    EXPECT_NE(status.error_message().find(words), std::string::npos) << status.error_message();
    grpc::Status streamed;
    EXPECT_TRUE(client.stream(request, streamed).empty());
    EXPECT_EQ(streamed.error_code(), code) << streamed.error_message();
  };
  const auto samples = testing::noise(8000);
  expect_code(pcm_request("nobody", samples), grpc::StatusCode::NOT_FOUND, "nobody");
  expect_code(pcm_request("", samples), grpc::StatusCode::INVALID_ARGUMENT, "model_id");
  v1::RenderRequest no_audio;
  no_audio.set_model_id("a");
  expect_code(no_audio, grpc::StatusCode::INVALID_ARGUMENT, "audio is required");
  expect_code(pcm_request("a", samples, 0), grpc::StatusCode::INVALID_ARGUMENT, "sample rate 0");
  expect_code(pcm_request("a", samples, 999), grpc::StatusCode::INVALID_ARGUMENT,
              "sample rate 999");
  expect_code(pcm_request("a", samples, 1'000'000), grpc::StatusCode::INVALID_ARGUMENT,
              "sample rate 1000000");
  auto not_finite = samples;
  not_finite[77] = std::nanf("");
  expect_code(pcm_request("a", not_finite), grpc::StatusCode::INVALID_ARGUMENT, "sample 77");
  expect_code(pcm_request("a", testing::noise(100)), grpc::StatusCode::INVALID_ARGUMENT,
              "needed for one frame");
  v1::RenderRequest garbage = no_audio;
  garbage.mutable_audio()->set_encoded("this is not audio");
  expect_code(garbage, grpc::StatusCode::INVALID_ARGUMENT, "audio.encoded");
  for (std::int64_t start : {std::int64_t{-1}, std::int64_t{2'000'000'000}}) {
    v1::RenderRequest request = pcm_request("a", samples);
    request.set_start_frame(start);
    expect_code(request, grpc::StatusCode::INVALID_ARGUMENT, "start_frame");
  }
  v1::RenderRequest mode = pcm_request("a", samples);
  mode.set_sequence_mode(static_cast<v1::SequenceMode>(7));
  expect_code(mode, grpc::StatusCode::INVALID_ARGUMENT, "sequence_mode 7");
  v1::RenderRequest format = pcm_request("a", samples);
  format.mutable_output()->set_format(static_cast<v1::FrameFormat>(9));
  expect_code(format, grpc::StatusCode::INVALID_ARGUMENT, "output.format 9");
  v1::RenderRequest quality = pcm_request("a", samples);
  quality.mutable_output()->set_jpeg_quality(101);
  expect_code(quality, grpc::StatusCode::INVALID_ARGUMENT, "jpeg_quality 101");
  expect_serving(client);
}

TEST_F(NativeServiceTest, AResponseAboveTheMessageLimitIsRefusedWithAHint) {
  Config c = config({"a"});
  c.server.max_message_size_mb = kMinMessageSizeMb;
  auto server = start(c);
  ASSERT_NE(server, nullptr);
  NativeClient client(server->grpc_port());
  // 45 s: 1122 raw frames of 160x128x3 bytes = 66 MiB, above the 64 MiB limit.
  v1::RenderRequest request = pcm_request("a", testing::noise(45 * 16000));
  request.mutable_output()->set_format(v1::FRAME_FORMAT_RAW_BGR);
  v1::RenderResponse response;
  const grpc::Status status = client.render(request, response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(status.error_message().find("RenderStream"), std::string::npos)
      << status.error_message();
  EXPECT_EQ(server->scheduler().stats().batches, 0);  // refused before rendering
  expect_serving(client);
}

TEST_F(NativeServiceTest, AFullQueueRefusesANewClipAndAStartedClipWaitsForRoom) {
  Config c = config({"a"});
  c.pipeline = {.max_batch = 1, .max_queue_delay_ms = 0, .max_queue_depth = 2};
  std::atomic<int> loads{0};
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  auto inner = pipeline::lipsync_model_loader({.session = {.intra_op_threads = 1}});
  ServerOptions options;
  options.loader = [&](const ModelConfig& m) -> Result<std::shared_ptr<registry::LoadedModel>> {
    if (loads.fetch_add(1) == 1) {  // the second load waits for the test
      entered.set_value();
      gate.wait();
    }
    return inner(m);
  };
  auto server = start(c, options);
  ASSERT_NE(server, nullptr);
  auto mel = audio::MelAnalyzer::create();
  auto encoder = pipeline::OnnxFeatureEncoder::create(
      testing::test_models_dir() / "encoder_tiny.onnx", {.intra_op_threads = 1});
  ASSERT_TRUE(mel.ok() && encoder.ok());
  auto plan = pipeline::plan_clip({.model_id = "a"}, testing::noise(8000), **mel, **encoder,
                                  server->registry());
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();  // the first load
  ASSERT_TRUE(server->registry().unload("a").ok());
  pipeline::Scheduler& scheduler = server->scheduler();
  // Another request holds the model's owner thread in the (second, gated) load; one more waits.
  auto blocker = scheduler.submit(pipeline::batch_request(*plan, 0, 1));
  entered.get_future().wait();
  auto queued = scheduler.submit(pipeline::batch_request(*plan, 1, 1));

  // A started clip: batch 0 fills the queue (2 of 2), batch 1 is refused and retried later.
  pipeline::BatchWindow started(scheduler, *plan, c.pipeline);
  auto first = std::async(std::launch::async, [&] { return started.next(); });
  while (scheduler.stats().rejected < 1) std::this_thread::yield();
  // A new clip finds the queue full with none of its batches pending: refused at once.
  pipeline::BatchWindow refused(scheduler, *plan, c.pipeline);
  const auto answer = refused.next();
  ASSERT_FALSE(answer.ok());
  EXPECT_EQ(to_grpc_code(answer.status().code()), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(answer.status().message().find("queue full"), std::string::npos);

  release.set_value();
  ASSERT_TRUE(blocker.get().ok());
  ASSERT_TRUE(queued.get().ok());
  auto batch = first.get();
  std::int64_t frames = 0;
  for (;; batch = started.next()) {
    ASSERT_TRUE(batch.ok()) << batch.status().to_string();
    EXPECT_EQ(batch->first, frames);
    frames += static_cast<std::int64_t>(batch->count());
    if (started.done()) break;
  }
  EXPECT_EQ(frames, plan->frame_count());
  NativeClient client(server->grpc_port());
  expect_serving(client);
}

TEST_F(NativeServiceTest, CancellingAStreamStopsFurtherBatches) {
  Config c = config({"a"});
  c.pipeline.max_batch = 1;
  auto server = start(c);
  ASSERT_NE(server, nullptr);
  NativeClient client(server->grpc_port());
  const auto samples = testing::noise(10 * 16000);
  const v1::RenderRequest request = pcm_request("a", samples);
  {
    grpc::ClientContext context;
    auto reader = client.stub().RenderStream(&context, request);
    v1::RenderResponse message;
    ASSERT_TRUE(reader->Read(&message));
    EXPECT_EQ(message.clip_frames(), pipeline::clip_frame_count(samples.size()));
    context.TryCancel();
    while (reader->Read(&message)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  // A later request of the same model runs after whatever the cancelled call had queued.
  expect_serving(client);
  const auto stats = server->scheduler().stats();
  EXPECT_LT(stats.frames, 100) << "the cancelled stream kept submitting batches";
}

TEST_F(NativeServiceTest, ModelManagementAndHealth) {
  Config c = config();
  c.models["b"].model_path = *dir_ / "missing.onnx";
  auto server = start(c);
  ASSERT_NE(server, nullptr);
  NativeClient client(server->grpc_port());
  grpc::ClientContext list_context;
  v1::ListModelsResponse list;
  ASSERT_TRUE(client.stub().ListModels(&list_context, {}, &list).ok());
  ASSERT_EQ(list.models_size(), 2);
  EXPECT_EQ(list.models(0).model_id(), "a");
  EXPECT_EQ(list.models(0).state(), v1::MODEL_STATE_UNLOADED);

  v1::Model model;
  ASSERT_TRUE(client.load("a", model).ok());
  EXPECT_EQ(model.state(), v1::MODEL_STATE_READY);
  EXPECT_GT(model.stats().memory_bytes(), 0);
  EXPECT_EQ(model.stats().loads(), 1);
  EXPECT_EQ(client.load("ghost", model).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(client.get("ghost", model).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(client.get("", model).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  const grpc::Status failed = client.load("b", model);
  EXPECT_EQ(failed.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(failed.error_message().find("missing.onnx"), std::string::npos);
  ASSERT_TRUE(client.get("b", model).ok());
  EXPECT_EQ(model.state(), v1::MODEL_STATE_FAILED);
  EXPECT_NE(model.failure_reason().find("missing.onnx"), std::string::npos);
  v1::RenderResponse response;
  EXPECT_EQ(client.render(pcm_request("b", testing::noise(8000)), response).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);

  expect_serving(client);
  ASSERT_TRUE(client.get("a", model).ok());
  EXPECT_EQ(model.stats().frames(), pipeline::clip_frame_count(8000));  // expect_serving's
  EXPECT_GT(model.stats().last_used_unix_s(), 1700000000);

  grpc::ClientContext health_context;
  v1::HealthResponse health;
  ASSERT_TRUE(client.stub().Health(&health_context, {}, &health).ok());
  EXPECT_TRUE(health.serving());
  EXPECT_FALSE(health.healthy());
  ASSERT_EQ(health.failed_models_size(), 1);
  EXPECT_EQ(health.failed_models(0), "b");
  EXPECT_EQ(health.ready_models(), 1);
  EXPECT_EQ(health.configured_models(), 2);

  ASSERT_TRUE(client.unload("a", model).ok());
  EXPECT_EQ(model.state(), v1::MODEL_STATE_UNLOADED);
  server->shutdown();
  EXPECT_EQ(client.render(pcm_request("a", testing::noise(8000)), response).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

using SessionStream = grpc::ClientReaderWriter<v1::SessionRequest, v1::RenderResponse>;

// A Session call: `requests` written while another thread reads every answer.
std::vector<v1::RenderResponse> run_session(NativeClient& client,
                                            const std::vector<v1::SessionRequest>& requests,
                                            grpc::Status& status) {
  grpc::ClientContext context;
  std::shared_ptr<SessionStream> stream = client.stub().Session(&context);
  std::vector<v1::RenderResponse> messages;
  std::thread reader([&] {
    for (v1::RenderResponse message; stream->Read(&message);) messages.push_back(message);
  });
  for (const auto& request : requests) {
    if (!stream->Write(request)) break;
  }
  stream->WritesDone();
  reader.join();
  status = stream->Finish();
  return messages;
}

// Start (raw BGR, wrap from 4), then `samples` in chunks of `chunk`, the last one with end.
std::vector<v1::SessionRequest> session_requests(const std::string& model,
                                                 std::span<const float> samples,
                                                 std::size_t chunk) {
  std::vector<v1::SessionRequest> requests(1);
  v1::SessionStart& start = *requests[0].mutable_start();
  start.set_model_id(model);
  start.set_sequence_mode(v1::SEQUENCE_MODE_WRAP);
  start.set_start_frame(4);
  start.mutable_output()->set_format(v1::FRAME_FORMAT_RAW_BGR);
  for (std::size_t at = 0; at < samples.size(); at += chunk) {
    v1::SessionRequest request;
    const auto piece = samples.subspan(at, std::min(chunk, samples.size() - at));
    request.mutable_pcm()->Add(piece.begin(), piece.end());
    requests.push_back(request);
  }
  requests.back().set_end(true);
  return requests;
}

TEST_F(NativeServiceTest, SessionOfChunkedAudioEqualsRenderOfTheWholeClip) {
  Config c = config({"a"});
  c.pipeline.max_batch = 8;
  auto server = start(c);
  ASSERT_NE(server, nullptr);
  NativeClient client(server->grpc_port());
  const auto samples = testing::noise(24000, 29);
  v1::RenderRequest whole_request = pcm_request("a", samples);
  whole_request.set_sequence_mode(v1::SEQUENCE_MODE_WRAP);
  whole_request.set_start_frame(4);
  whole_request.mutable_output()->set_format(v1::FRAME_FORMAT_RAW_BGR);
  v1::RenderResponse whole;
  ASSERT_TRUE(client.render(whole_request, whole).ok());

  // Small chunks (at most one batch ready per message), and the whole clip in one message
  // (several batches in flight at once).
  for (const std::size_t chunk : {std::size_t{1234}, samples.size()}) {
    grpc::Status status;
    const auto messages = run_session(client, session_requests("a", samples, chunk), status);
    ASSERT_TRUE(status.ok()) << status.error_message();
    int next = 0;
    for (const auto& message : messages) {
      EXPECT_EQ(message.format(), v1::FRAME_FORMAT_RAW_BGR);
      EXPECT_EQ(message.width(), testing::kAvatarWidth);
      for (const auto& frame : message.frames()) {
        ASSERT_LT(next, whole.frames_size());
        EXPECT_EQ(frame.index(), next);
        EXPECT_EQ(frame.timestamp_ms(), 40 * next);
        EXPECT_EQ(frame.source_frame(), whole.frames(next).source_frame());
        EXPECT_TRUE(frame.data() == whole.frames(next).data()) << "frame " << next;
        ++next;
      }
      EXPECT_LE(next, message.clip_frames());
    }
    EXPECT_EQ(next, whole.frames_size()) << "chunk " << chunk;
    // Small chunks: frames came out while audio was still arriving. One chunk: one message
    // per batch of 8.
    EXPECT_GT(messages.size(), 3u) << "chunk " << chunk;
  }
}

// A client that sends audio faster than the session renders (a burst, or a session that fell
// behind): the audio that waits is taken in one go and rendered in full batches, not one 40 ms
// chunk per round trip.
TEST_F(NativeServiceTest, SessionBehindItsAudioTakesAllThatWaitsInOneGo) {
  Config c = config({"a"});
  c.pipeline.max_batch = 8;
  // A batch short of 8 waits 200 ms for more frames: a round trip per chunk would take at least
  // that long each, so the client's chunks arrive faster than such a server renders them even
  // where everything is slow (sanitizers).
  c.pipeline.max_queue_delay_ms = 200;
  auto server = start(c);
  ASSERT_NE(server, nullptr);
  NativeClient client(server->grpc_port());
  const auto samples = testing::noise(64000, 31);  // 4 s: 100 chunks of 40 ms, ~100 frames
  grpc::Status status;
  const auto messages = run_session(client, session_requests("a", samples, 640), status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  int frames = 0;
  for (const auto& message : messages) {
    EXPECT_EQ(message.frames(0).index(), frames);
    frames += message.frames_size();
  }
  EXPECT_EQ(frames, messages.back().clip_frames());
  EXPECT_GE(frames, 95);
  // One message per chunk (the server reading a chunk only after the previous one's frames
  // were written) would be ~100; full batches of 8 are ~13.
  EXPECT_LT(messages.size(), 40u) << frames << " frames";
}

TEST_F(NativeServiceTest, SessionErrorsGetTheirStatusCode) {
  auto server = start(config({"a"}));
  ASSERT_NE(server, nullptr);
  NativeClient client(server->grpc_port());
  auto expect_code = [&](std::vector<v1::SessionRequest> requests, grpc::StatusCode code,
                         const std::string& words) {
    SCOPED_TRACE(words);
    grpc::Status status;
    run_session(client, requests, status);
    EXPECT_EQ(status.error_code(), code) << status.error_message();
    EXPECT_NE(status.error_message().find(words), std::string::npos) << status.error_message();
  };
  const auto samples = testing::noise(8000);
  auto requests = session_requests("a", samples, 4000);
  auto no_start = requests;
  no_start.erase(no_start.begin());
  expect_code(no_start, grpc::StatusCode::INVALID_ARGUMENT, "must carry start");
  auto twice = requests;
  twice.insert(twice.begin() + 1, requests.front());
  expect_code(twice, grpc::StatusCode::INVALID_ARGUMENT, "first message only");
  expect_code(session_requests("nobody", samples, 4000), grpc::StatusCode::NOT_FOUND, "nobody");
  auto rate = requests;
  rate.front().mutable_start()->set_sample_rate_hz(5);
  expect_code(rate, grpc::StatusCode::INVALID_ARGUMENT, "sample rate 5");
  expect_code(session_requests("a", testing::noise(100), 50), grpc::StatusCode::INVALID_ARGUMENT,
              "short");
  grpc::Status status;
  EXPECT_FALSE(run_session(client, requests, status).empty());
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST(GrpcStatus, EveryErrorCodeMapsToItsGrpcCode) {
  EXPECT_TRUE(to_grpc_status(Status()).ok());
  const grpc::Status status = to_grpc_status(make_error(ErrorCode::kNotFound, "model 'x'"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "model 'x'");
  EXPECT_EQ(to_grpc_code(ErrorCode::kInvalidArgument), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(to_grpc_code(ErrorCode::kResourceExhausted), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(to_grpc_code(ErrorCode::kUnavailable), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(to_grpc_code(ErrorCode::kCancelled), grpc::StatusCode::CANCELLED);
  EXPECT_EQ(to_grpc_code(ErrorCode::kFailedPrecondition), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(to_grpc_code(ErrorCode::kInternal), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(to_grpc_code(ErrorCode::kDataLoss), grpc::StatusCode::DATA_LOSS);
}

}  // namespace
}  // namespace lipsync::server
