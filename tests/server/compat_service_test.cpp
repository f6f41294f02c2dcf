// The compat service (compat-api.md) end to end: a real server in-process on port 0, the tiny
// models, a synthetic avatar, and a gRPC client as the older clients use it.
#include "server/compat_service.h"

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <future>
#include <random>
#include <thread>

#include "audio/audio_features.h"
#include "media/jpeg_codec.h"
#include "pipeline/lipsync_model.h"
#include "proto/monolithic.grpc.pb.h"
#include "server/server.h"
#include "support/synthetic_avatar.h"
#include "support/synthetic_server_test.h"
#include "support/test_paths.h"

namespace lipsync::server {
namespace {

namespace fs = std::filesystem;
using monolithic::CompositeBatchRequest;
using monolithic::CompositeBatchResponse;

constexpr int kFrames = testing::SyntheticServerTest::kFrames;
constexpr std::size_t kVisualFrameBytes =
    std::size_t{6} * 320 * 320 * sizeof(float);  // compat-api.md

std::string audio_bytes(std::size_t samples) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-0.4f, 0.4f);
  std::vector<float> pcm(samples);
  for (float& v : pcm) v = dist(rng);
  return std::string(reinterpret_cast<const char*>(pcm.data()), pcm.size() * sizeof(float));
}

// As the older clients build it: raw audio from 8 frames before the start, (batch+15)·640 long.
CompositeBatchRequest batch_request(const std::string& model, int batch, int start) {
  CompositeBatchRequest request;
  request.set_model_id(model);
  request.set_batch_size(batch);
  request.set_start_frame_idx(start);
  request.set_raw_audio(audio_bytes(static_cast<std::size_t>(batch + 15) * 640));
  return request;
}

// Whether a TCP connection to ip:port is accepted.
bool can_connect(const char* ip, int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  inet_pton(AF_INET, ip, &address.sin_addr);
  const bool connected = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  close(fd);
  return connected;
}

// A plain HTTP/1.1 GET; returns the whole response (status line, headers, body).
std::string http_get(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) {
    const std::string request =
        "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    EXPECT_EQ(write(fd, request.data(), request.size()), static_cast<ssize_t>(request.size()));
    char buffer[4096];
    for (ssize_t n; (n = read(fd, buffer, sizeof(buffer))) > 0;)
      response.append(buffer, static_cast<std::size_t>(n));
  }
  close(fd);
  return response;
}

class Client {
 public:
  explicit Client(int port) {
    stub_ = monolithic::MonolithicService::NewStub(testing::local_channel(port));
  }

  CompositeBatchResponse infer(const CompositeBatchRequest& request) {
    grpc::ClientContext context;
    CompositeBatchResponse response;
    EXPECT_TRUE(stub_->InferBatchComposite(&context, request, &response).ok());
    return response;
  }
  template <typename Req, typename Resp, typename Method>
  Resp call(Method method, const Req& request) {
    grpc::ClientContext context;
    Resp response;
    EXPECT_TRUE(((*stub_).*method)(&context, request, &response).ok());
    return response;
  }
  monolithic::HealthResponse health() {
    return call<monolithic::HealthRequest, monolithic::HealthResponse>(
        &monolithic::MonolithicService::Stub::Health, {});
  }
  monolithic::ListModelsResponse list() {
    return call<monolithic::ListModelsRequest, monolithic::ListModelsResponse>(
        &monolithic::MonolithicService::Stub::ListModels, {});
  }
  monolithic::GetModelStatsResponse stats() {
    return call<monolithic::GetModelStatsRequest, monolithic::GetModelStatsResponse>(
        &monolithic::MonolithicService::Stub::GetModelStats, {});
  }
  monolithic::LoadModelResponse load(const std::string& id) {
    monolithic::LoadModelRequest request;
    request.set_model_id(id);
    request.set_preferred_gpu(-1);
    return call<monolithic::LoadModelRequest, monolithic::LoadModelResponse>(
        &monolithic::MonolithicService::Stub::LoadModel, request);
  }
  // preferred_gpu absent when `preferred` is empty.
  monolithic::LoadModelResponse load_with(const std::string& id, std::optional<int> preferred) {
    monolithic::LoadModelRequest request;
    request.set_model_id(id);
    if (preferred.has_value()) request.set_preferred_gpu(*preferred);
    return call<monolithic::LoadModelRequest, monolithic::LoadModelResponse>(
        &monolithic::MonolithicService::Stub::LoadModel, request);
  }
  monolithic::UnloadModelResponse unload(const std::string& id) {
    monolithic::UnloadModelRequest request;
    request.set_model_id(id);
    return call<monolithic::UnloadModelRequest, monolithic::UnloadModelResponse>(
        &monolithic::MonolithicService::Stub::UnloadModel, request);
  }

 private:
  std::unique_ptr<monolithic::MonolithicService::Stub> stub_;
};

// Raw output keeps the source's pixels as backgrounds (no lossy encode before the output);
// JPEG output splices into JPEGs of the output's own settings.
TEST(ServedBackgroundStore, RawForRawOutputSpliceForJpegOutput) {
  EXPECT_EQ(served_background_store({.format = OutputFormat::kRaw}).kind,
            avatar::BackgroundStoreKind::kRaw);
  const auto jpeg = served_background_store({.format = OutputFormat::kJpeg,
                                             .jpeg_quality = 83,
                                             .chroma_subsampling = ChromaSubsampling::k444});
  EXPECT_EQ(jpeg.kind, avatar::BackgroundStoreKind::kJpegSplice);
  EXPECT_EQ(jpeg.jpeg_quality, 83);
  EXPECT_EQ(jpeg.jpeg_subsampling, ChromaSubsampling::k444);
}

class CompatServiceTest : public testing::SyntheticServerTest {
 protected:
  // The server still answers a good request.
  static void expect_serving(Client& client) {
    const auto response = client.infer(batch_request("a", 2, 0));
    EXPECT_TRUE(response.success()) << response.error();
    EXPECT_EQ(response.composited_frames_size(), 2);
  }
};

TEST_F(CompatServiceTest, InferBatchCompositeReturnsFullSizeJpegsAndTimings) {
  auto server = start(config());
  ASSERT_NE(server, nullptr);
  Client client(server->grpc_port());
  const auto response = client.infer(batch_request("a", 5, 3));
  ASSERT_TRUE(response.success()) << response.error();
  ASSERT_EQ(response.composited_frames_size(), 5);
  for (const auto& jpeg : response.composited_frames()) {
    auto image = media::decode_jpeg(
        std::span(reinterpret_cast<const std::uint8_t*>(jpeg.data()), jpeg.size()));
    ASSERT_TRUE(image.ok()) << image.status().to_string();
    EXPECT_EQ(image->width, testing::kAvatarWidth);
    EXPECT_EQ(image->height, testing::kAvatarHeight);
  }
  EXPECT_TRUE(response.model_loaded());  // nothing preloaded: this request loaded it
  EXPECT_GT(response.model_load_time_ms(), 0.0f);
  EXPECT_GT(response.inference_time_ms(), 0.0f);
  EXPECT_GT(response.composite_time_ms(), 0.0f);
  EXPECT_GT(response.audio_processing_ms(), 0.0f);
  EXPECT_GE(response.total_time_ms(), response.inference_time_ms());
  EXPECT_EQ(response.gpu_id(), -1);
  const auto again = client.infer(batch_request("a", 1, kFrames * 3 - 1));  // wraps
  ASSERT_TRUE(again.success()) << again.error();
  EXPECT_FALSE(again.model_loaded());
}

TEST_F(CompatServiceTest, NegativeStartWrapsLikeItsPositiveResidue) {
  auto server = start(config());
  ASSERT_NE(server, nullptr);
  Client client(server->grpc_port());
  CompositeBatchRequest negative = batch_request("a", 2, -2);
  negative.set_audio_features(std::string(audio::kFrameTensorSize * sizeof(float), '\0'));
  negative.clear_raw_audio();
  CompositeBatchRequest positive = negative;
  positive.set_start_frame_idx(kFrames - 2);
  const auto a = client.infer(negative);
  const auto b = client.infer(positive);
  ASSERT_TRUE(a.success()) << a.error();
  ASSERT_TRUE(b.success()) << b.error();
  EXPECT_EQ(a.composited_frames(0), b.composited_frames(0));
  EXPECT_EQ(a.composited_frames(1), b.composited_frames(1));
}

TEST_F(CompatServiceTest, ErrorsAreAnsweredAndTheServerKeepsServing) {
  auto server = start(config());
  ASSERT_NE(server, nullptr);
  Client client(server->grpc_port());
  auto expect_error = [&](const CompositeBatchRequest& request, const std::string& words) {
    const auto response = client.infer(request);
    EXPECT_FALSE(response.success());
    EXPECT_NE(response.error().find(words), std::string::npos) << response.error();
    EXPECT_EQ(response.composited_frames_size(), 0);
    expect_serving(client);
  };
  expect_error(batch_request("nobody", 2, 0), "nobody");
  expect_error(batch_request("", 2, 0), "model_id is required");
  expect_error(batch_request("a", 0, 0), "batch_size 0");
  expect_error(batch_request("a", 33, 0), "batch_size 33");
  CompositeBatchRequest visual = batch_request("a", 2, 0);
  visual.set_visual_frames(std::string(kVisualFrameBytes, '\0'));  // one frame's worth for two
  expect_error(visual, "visual_frames has 2457600 bytes");
  CompositeBatchRequest odd = batch_request("a", 2, 0);
  odd.set_raw_audio("abc");
  expect_error(odd, "raw_audio has 3 bytes");
  CompositeBatchRequest silent = batch_request("a", 2, 0);
  silent.clear_raw_audio();
  expect_error(silent, "both empty");
  CompositeBatchRequest legacy = silent;
  legacy.set_audio_features(std::string(100, '\0'));
  expect_error(legacy, "audio_features has 25 floats");

  CompositeBatchRequest short_audio = batch_request("a", 4, 40);
  short_audio.set_raw_audio(audio_bytes(10));  // far shorter than the batch needs: zero-padded
  const auto padded = client.infer(short_audio);
  EXPECT_TRUE(padded.success()) << padded.error();
  EXPECT_EQ(padded.composited_frames_size(), 4);
  EXPECT_TRUE(client.health().healthy());
}

TEST_F(CompatServiceTest, Batch32WithVisualFramesEqualsTheAvatarsOwn) {
  auto server = start(config());
  ASSERT_NE(server, nullptr);
  Client client(server->grpc_port());
  constexpr int kBatch = 32;
  auto handle = server->registry().acquire("a");
  ASSERT_TRUE(handle.ok());
  const auto& avatar = handle->get<pipeline::LipSyncModel>().avatar();
  std::vector<float> tensors(kVisualFrameBytes / sizeof(float) * kBatch);
  const std::size_t per_frame = avatar.geometry().input_tensor_elements();
  for (int i = 0; i < kBatch; ++i) {
    ASSERT_TRUE(avatar
                    .fill_input_tensor(static_cast<std::size_t>((5 + i) % kFrames),
                                       std::span(tensors).subspan(i * per_frame, per_frame))
                    .ok());
  }
  CompositeBatchRequest with_visual = batch_request("a", kBatch, 5);
  with_visual.set_visual_frames(
      std::string(reinterpret_cast<const char*>(tensors.data()), tensors.size() * sizeof(float)));
  ASSERT_GT(with_visual.ByteSizeLong(), std::size_t{64} << 20);  // above gRPC's 4 MiB default
  CompositeBatchRequest without = with_visual;
  without.clear_visual_frames();
  const auto a = client.infer(with_visual);
  const auto b = client.infer(without);
  ASSERT_TRUE(a.success()) << a.error();
  ASSERT_TRUE(b.success()) << b.error();
  ASSERT_EQ(a.composited_frames_size(), kBatch);
  for (int i = 0; i < kBatch; ++i)
    EXPECT_EQ(a.composited_frames(i), b.composited_frames(i)) << "frame " << i;
}

TEST_F(CompatServiceTest, ConcurrentClientsShareBatches) {
  Config c = config({"a"});
  c.pipeline = {.max_batch = 8, .max_queue_delay_ms = 60000, .max_queue_depth = 16};
  auto server = start(c);
  ASSERT_NE(server, nullptr);
  std::vector<std::future<CompositeBatchResponse>> clients;
  for (int i = 0; i < 4; ++i) {
    clients.push_back(std::async(std::launch::async, [&, i] {
      Client client(server->grpc_port());
      return client.infer(batch_request("a", 2, 2 * i));
    }));
  }
  for (auto& f : clients) {
    const auto response = f.get();
    EXPECT_TRUE(response.success()) << response.error();
    EXPECT_EQ(response.composited_frames_size(), 2);
  }
  // The long delay closes the batch only when full: all four requests ran as one UNet batch.
  EXPECT_EQ(server->scheduler().stats().largest_batch_frames, 8);
  EXPECT_EQ(server->scheduler().stats().batches, 1);
}

TEST_F(CompatServiceTest, OverloadIsRefusedAtOnce) {
  Config c = config({"a"});
  c.pipeline = {.max_batch = 1, .max_queue_delay_ms = 0, .max_queue_depth = 1};
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
    return Client(server->grpc_port()).infer(batch_request("a", 1, 0));
  });
  entered.get_future().wait();  // the owner thread holds request 1 while loading
  auto second = std::async(std::launch::async, [&] {
    return Client(server->grpc_port()).infer(batch_request("a", 1, 1));
  });
  while (server->scheduler().queue_depth("a") < 1) std::this_thread::yield();  // request 2 queued
  Client client(server->grpc_port());
  const auto refused = client.infer(batch_request("a", 1, 2));
  EXPECT_FALSE(refused.success());
  EXPECT_NE(refused.error().find("RESOURCE_EXHAUSTED"), std::string::npos) << refused.error();
  release.set_value();
  EXPECT_TRUE(first.get().success());
  EXPECT_TRUE(second.get().success());
  EXPECT_TRUE(client.infer(batch_request("a", 1, 3)).success());
}

TEST_F(CompatServiceTest, EvictedModelReloadsTransparently) {
  Config c = config();
  c.capacity.max_models = 1;
  auto server = start(c);
  ASSERT_NE(server, nullptr);
  Client client(server->grpc_port());
  EXPECT_TRUE(client.infer(batch_request("a", 2, 0)).model_loaded());
  EXPECT_TRUE(client.infer(batch_request("b", 2, 0)).model_loaded());  // evicts a
  const auto list = client.list();
  ASSERT_EQ(list.models_size(), 2);
  EXPECT_FALSE(list.models(0).loaded());
  EXPECT_TRUE(list.models(1).loaded());
  const auto again = client.infer(batch_request("a", 2, 0));
  EXPECT_TRUE(again.success()) << again.error();
  EXPECT_TRUE(again.model_loaded());
  EXPECT_EQ(server->registry().info("a")->stats.evictions, 1);
  EXPECT_EQ(client.health().loaded_models(), 1);
  EXPECT_EQ(client.health().max_models(), 1);
}

// A configured model that cannot load is the server's problem (FAILED_PRECONDITION, the model
// named once), not an unknown one (NOT_FOUND, listing the configured ids).
TEST_F(CompatServiceTest, LoadFailureAndUnknownModelMessages) {
  Config c = config();
  c.models.at("b").model_path = *dir_ / "missing.onnx";
  auto server = start(c);
  ASSERT_NE(server, nullptr);
  Client client(server->grpc_port());
  const auto failed = client.infer(batch_request("b", 1, 0));
  EXPECT_FALSE(failed.success());
  const std::string& error = failed.error();
  EXPECT_TRUE(error.starts_with("FAILED_PRECONDITION: model 'b' cannot be loaded: ")) << error;
  EXPECT_EQ(error.find("model 'b'", 25), std::string::npos) << error;
  EXPECT_NE(error.find("missing.onnx"), std::string::npos) << error;
  const auto unknown = client.infer(batch_request("nobody", 1, 0));
  EXPECT_TRUE(unknown.error().starts_with(
      "NOT_FOUND: model 'nobody' is not configured: use one of 'a', 'b'"))
      << unknown.error();
  expect_serving(client);
}

TEST_F(CompatServiceTest, ModelManagementAndRealStatistics) {
  auto server = start(config());
  ASSERT_NE(server, nullptr);
  Client client(server->grpc_port());
  auto health = client.health();
  EXPECT_TRUE(health.healthy());
  EXPECT_EQ(health.loaded_models(), 0);
  EXPECT_EQ(health.max_models(), 8);

  const auto loaded = client.load("b");
  EXPECT_TRUE(loaded.success()) << loaded.error();
  EXPECT_GT(loaded.load_time_ms(), 0.0f);
  EXPECT_FALSE(client.load("ghost").success());
  EXPECT_NE(client.load("ghost").error().find("ghost"), std::string::npos);
  EXPECT_EQ(client.health().loaded_models(), 1);

  for (int i = 0; i < 3; ++i) ASSERT_TRUE(client.infer(batch_request("a", 2, i)).success());
  const auto stats = client.stats();
  ASSERT_EQ(stats.models_size(), 2);  // every configured model, loaded or not
  EXPECT_EQ(stats.models(0).model_id(), "a");
  EXPECT_EQ(stats.models(0).request_count(), 3);
  EXPECT_GT(stats.models(0).avg_inference_ms(), 0.0f);
  EXPECT_GT(stats.models(0).memory_mb(), 0);
  EXPECT_GT(stats.models(0).last_used_timestamp(), 1700000000);
  EXPECT_EQ(stats.models(1).request_count(), 0);
  EXPECT_TRUE(stats.models(1).loaded());
  const auto list = client.list();
  ASSERT_EQ(list.models_size(), 2);
  EXPECT_EQ(list.models(0).request_count(), 3);

  EXPECT_TRUE(client.unload("b").success());
  EXPECT_FALSE(client.unload("ghost").success());
  EXPECT_FALSE(client.list().models(1).loaded());
  EXPECT_EQ(client.health().loaded_models(), 1);
}

// The configured host is where both servers listen (server.port "127.0.0.1:N" used to listen
// on every interface). Linux routes all of 127/8 to the loopback: 127.0.0.2 reaches a server
// on every interface, not one on 127.0.0.1 alone.
TEST_F(CompatServiceTest, ListensOnTheConfiguredHostOnly) {
  for (const bool local : {false, true}) {
    Config c = config({"a"});
    if (local) {
      c.server.grpc_host = "127.0.0.1";
      c.server.http_host = "127.0.0.1";
    }
    ServerOptions options;
    options.http_port = 0;
    auto server = start(c, options);
    ASSERT_NE(server, nullptr);
    for (const int port : {server->grpc_port(), server->http_port()}) {
      EXPECT_TRUE(can_connect("127.0.0.1", port)) << port;
      EXPECT_EQ(can_connect("127.0.0.2", port), !local) << port << (local ? " local" : " all");
    }
  }
}

TEST_F(CompatServiceTest, MetricsCountRequestsBatchesAndModels) {
  Config c = config({"a"});
  c.models["a"].preload_model = true;
  ServerOptions options;
  options.http_port = 0;
  auto server = start(c, options);
  ASSERT_NE(server, nullptr);
  ASSERT_GT(server->http_port(), 0);
  EXPECT_NE(http_get(server->http_port(), "/health/ready").find("200 OK"), std::string::npos);
  Client client(server->grpc_port());
  ASSERT_TRUE(client.infer(batch_request("a", 3, 0)).success());
  ASSERT_TRUE(client.infer(batch_request("a", 2, 0)).success());
  EXPECT_FALSE(client.infer(batch_request("a", 0, 0)).success());
  const std::string metrics = http_get(server->http_port(), "/metrics");
  for (const char* line :
       {"lipsync_requests_total{api=\"compat.InferBatchComposite\",code=\"OK\"} 2",
        "lipsync_requests_total{api=\"compat.InferBatchComposite\",code=\"INVALID_ARGUMENT\"} 1",
        "lipsync_batch_frames_count 2", "lipsync_batch_frames_sum 5",
        "lipsync_stage_duration_ms_count{stage=\"inference\"} 2",
        "lipsync_queue_depth{model=\"a\"} 0", "lipsync_models_loaded 1",
        "lipsync_draining_memory_bytes 0"}) {
    EXPECT_NE(metrics.find(line), std::string::npos) << line << " not in\n" << metrics;
  }
}

TEST_F(CompatServiceTest, HealthIsFalseWhenAModelFailedToLoad) {
  Config c = config({"a"});
  c.models["a"].model_path = *dir_ / "missing.onnx";
  auto server = start(c);
  ASSERT_NE(server, nullptr);
  Client client(server->grpc_port());
  const auto response = client.infer(batch_request("a", 1, 0));
  EXPECT_FALSE(response.success());
  EXPECT_NE(response.error().find("missing.onnx"), std::string::npos) << response.error();
  EXPECT_FALSE(client.health().healthy());
}

// A GpuInfo with fixed memory per device: device d uses (d + 1) GiB; `missing` is unreadable.
class FakeGpuInfo : public runtime::GpuInfo {
 public:
  explicit FakeGpuInfo(int missing = -1) : missing_(missing) {}
  std::vector<runtime::GpuMemory> memory(std::span<const int> ids) const override {
    std::vector<runtime::GpuMemory> found;
    for (int id : ids) {
      if (id != missing_) found.push_back({id, "fake", (id + 1) * (std::int64_t{1} << 30), 0});
    }
    return found;
  }
  const std::string& unavailable_reason() const override { return reason_; }

 private:
  int missing_;
  std::string reason_;
};

TEST(GpuReport, ListsPlacedDevicesWithTheirMemoryWhenAllAreReadable) {
  const FakeGpuInfo gpus;
  const std::vector<int> devices{0, 2};
  const GpuReport report = gpu_report(devices, &gpus);
  EXPECT_EQ(report.ids, (std::vector<std::int32_t>{0, 2}));
  EXPECT_EQ(report.used_gb, (std::vector<float>{1.0f, 3.0f}));

  const FakeGpuInfo partial(2);  // lists that would not line up: no memory
  EXPECT_TRUE(gpu_report(devices, &partial).used_gb.empty());
  EXPECT_EQ(gpu_report(devices, &partial).ids.size(), 2u);
  EXPECT_TRUE(gpu_report(devices, nullptr).used_gb.empty());
  EXPECT_TRUE(gpu_report({}, &gpus).ids.empty());  // the CPU: no GPU at all
}

// On the CPU every gpu_id is -1 and Health lists no GPU, whatever NVML would say; a
// preferred_gpu is accepted and ignored, and an absent one is automatic.
TEST_F(CompatServiceTest, GpuFieldsOnTheCpu) {
  ServerOptions options;
  options.gpu_info = std::make_shared<FakeGpuInfo>();
  auto server = start(config(), options);
  ASSERT_NE(server, nullptr);
  Client client(server->grpc_port());
  const auto absent = client.load_with("a", std::nullopt);
  EXPECT_TRUE(absent.success()) << absent.error();
  EXPECT_EQ(absent.gpu_id(), -1);
  const auto preferred = client.load_with("b", 1);
  EXPECT_TRUE(preferred.success()) << preferred.error();
  EXPECT_EQ(preferred.gpu_id(), -1);
  const auto list = client.list();
  ASSERT_EQ(list.models_size(), 2);
  for (const auto& model : list.models()) {
    EXPECT_TRUE(model.loaded());
    EXPECT_EQ(model.gpu_id(), -1);
  }
  const auto stats = client.stats();
  for (const auto& model : stats.models()) EXPECT_EQ(model.gpu_id(), -1);
  const auto health = client.health();
  EXPECT_EQ(health.gpu_ids_size(), 0);
  EXPECT_EQ(health.gpu_memory_used_gb_size(), 0);
  EXPECT_EQ(client.infer(batch_request("a", 1, 0)).gpu_id(), -1);
}

// A model unloaded while a user holds it is freed only when released, and until then its memory
// is reported as draining.
TEST_F(CompatServiceTest, UnloadedModelInUseIsReportedAsDraining) {
  ServerOptions options;
  options.http_port = 0;
  auto server = start(config({"a"}), options);
  ASSERT_NE(server, nullptr);
  auto handle = server->registry().acquire("a");
  ASSERT_TRUE(handle.ok()) << handle.status().to_string();
  const std::int64_t bytes = handle->model().memory_bytes();
  ASSERT_GT(bytes, 0);
  Client client(server->grpc_port());
  ASSERT_TRUE(client.unload("a").success());
  EXPECT_FALSE(client.list().models(0).loaded());
  const std::string draining = fmt::format("lipsync_draining_memory_bytes {}\n", bytes);
  EXPECT_NE(http_get(server->http_port(), "/metrics").find(draining), std::string::npos);
  { auto released = std::move(handle).value(); }
  EXPECT_NE(http_get(server->http_port(), "/metrics").find("lipsync_draining_memory_bytes 0\n"),
            std::string::npos);
}

}  // namespace
}  // namespace lipsync::server
