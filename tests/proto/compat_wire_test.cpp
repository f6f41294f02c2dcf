// The compat messages keep the older server's field numbers and types (compat-api.md): a
// message serialised here has the exact tags an unchanged older client sends and expects.
#include <gtest/gtest.h>

#include <string>

#include "proto/monolithic.grpc.pb.h"
#include "proto/monolithic.pb.h"

namespace {

// Wire tag byte for field numbers < 16: (number << 3) | wire_type.
char tag(int number, int wire_type) { return static_cast<char>((number << 3) | wire_type); }
constexpr int kVarint = 0;
constexpr int kFixed32 = 5;
constexpr int kLengthDelimited = 2;

TEST(CompatWire, RequestFieldNumbersAndTypes) {
  monolithic::CompositeBatchRequest request;
  request.set_model_id("m");
  request.set_visual_frames("v");
  request.set_raw_audio("a");
  request.set_audio_features("f");
  request.set_batch_size(25);
  request.set_start_frame_idx(3);
  request.set_sample_rate(16000);
  const std::string wire = request.SerializeAsString();
  const std::string expected = std::string{tag(1, kLengthDelimited), 1, 'm'} +
                               std::string{tag(2, kLengthDelimited), 1, 'v'} +
                               std::string{tag(3, kLengthDelimited), 1, 'a'} +
                               std::string{tag(4, kLengthDelimited), 1, 'f'} +
                               std::string{tag(5, kVarint), 25} + std::string{tag(6, kVarint), 3} +
                               std::string{tag(7, kVarint), '\x80', '\x7d'};
  EXPECT_EQ(wire, expected);
}

TEST(CompatWire, ResponseFieldNumbersAndTypes) {
  monolithic::CompositeBatchResponse response;
  response.add_composited_frames("j");
  response.set_inference_time_ms(1.f);
  response.set_success(true);
  response.set_error("e");
  response.set_gpu_id(2);
  const std::string wire = response.SerializeAsString();
  const std::string one_f = std::string("\x00\x00\x80\x3f", 4);  // 1.0f little-endian
  const std::string expected = std::string{tag(1, kLengthDelimited), 1, 'j'} + tag(2, kFixed32) +
                               one_f + std::string{tag(8, kVarint), 1} +
                               std::string{tag(9, kLengthDelimited), 1, 'e'} +
                               std::string{tag(10, kVarint), 2};
  EXPECT_EQ(wire, expected);
}

TEST(CompatWire, StatsAndHealthTypes) {
  monolithic::ModelStats stats;
  stats.set_total_inference_ms(5);
  stats.set_last_used_timestamp(7);
  EXPECT_EQ(stats.SerializeAsString(),
            (std::string{tag(6, kVarint), 5, tag(8, kVarint), 7}));
  monolithic::HealthResponse health;
  health.set_healthy(true);
  health.add_gpu_ids(0);
  health.add_gpu_memory_used_gb(1.f);
  const std::string expected = std::string{tag(1, kVarint), 1, tag(4, kLengthDelimited), 1, 0,
                                           tag(5, kLengthDelimited), 4} +
                               std::string("\x00\x00\x80\x3f", 4);
  EXPECT_EQ(health.SerializeAsString(), expected);
}

TEST(CompatWire, ServiceMethodNames) {
  EXPECT_STREQ(monolithic::MonolithicService::service_full_name(), "monolithic.MonolithicService");
  const auto* service =
      monolithic::CompositeBatchRequest::descriptor()->file()->FindServiceByName("MonolithicService");
  ASSERT_NE(service, nullptr);
  EXPECT_EQ(service->full_name(), "monolithic.MonolithicService");
  for (const char* rpc : {"InferBatchComposite", "ListModels", "LoadModel", "UnloadModel",
                          "GetModelStats", "Health"}) {
    EXPECT_NE(service->FindMethodByName(rpc), nullptr) << rpc;
  }
}

}  // namespace
