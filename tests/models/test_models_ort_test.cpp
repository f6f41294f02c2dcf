// The generated models run through ONNX Runtime (CPU) with the I/O contract of pipeline.md §8.
#include <gtest/gtest.h>
#include <onnxruntime_cxx_api.h>

#include <algorithm>
#include <random>
#include <vector>

#include "support/test_paths.h"

namespace {

Ort::Env& env() {
  static Ort::Env e(ORT_LOGGING_LEVEL_WARNING, "test_models");
  return e;
}

Ort::Session open(const char* file) {
  Ort::SessionOptions options;
  options.SetIntraOpNumThreads(2);
  const auto path = lipsync::testing::test_models_dir() / file;
  return Ort::Session(env(), path.c_str(), options);
}

std::vector<float> random_values(std::size_t n, float lo, float hi, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

std::vector<float> run_unet(Ort::Session& session, int64_t batch) {
  const auto mem = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  const std::array<int64_t, 4> image_shape{batch, 6, 320, 320};
  const std::array<int64_t, 4> audio_shape{batch, 32, 16, 16};
  auto image = random_values(batch * 6 * 320 * 320, 0.f, 1.f, 1);
  auto audio = random_values(batch * 32 * 16 * 16, 0.f, 4.f, 2);
  std::array<Ort::Value, 2> inputs{
      Ort::Value::CreateTensor<float>(mem, image.data(), image.size(), image_shape.data(), 4),
      Ort::Value::CreateTensor<float>(mem, audio.data(), audio.size(), audio_shape.data(), 4)};
  const char* in_names[] = {"input", "audio"};
  const char* out_names[] = {"output"};
  auto out = session.Run(Ort::RunOptions{}, in_names, inputs.data(), 2, out_names, 1);
  const auto shape = out[0].GetTensorTypeAndShapeInfo().GetShape();
  EXPECT_EQ(shape, (std::vector<int64_t>{batch, 3, 320, 320}));
  const float* data = out[0].GetTensorData<float>();
  return {data, data + batch * 3 * 320 * 320};
}

void expect_open_unit_interval(const std::vector<float>& values) {
  const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
  EXPECT_GT(*lo, 0.f);
  EXPECT_LT(*hi, 1.f);
  // Random weights must still give a spread of values, not a saturated sigmoid.
  EXPECT_GT(*hi - *lo, 0.05f);
}

TEST(TestModels, FullUnetRunsAtBatchOneAndThree) {
  auto session = open("unet.onnx");
  expect_open_unit_interval(run_unet(session, 1));
  expect_open_unit_interval(run_unet(session, 3));
}

TEST(TestModels, TinyUnetHasTheSameContract) {
  auto session = open("unet_tiny.onnx");
  expect_open_unit_interval(run_unet(session, 2));
}

void check_encoder(const char* file) {
  auto session = open(file);
  const auto mem = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  const int64_t batch = 5;
  const std::array<int64_t, 4> shape{batch, 1, 80, 16};
  auto mel = random_values(batch * 80 * 16, -4.f, 4.f, 3);
  auto input = Ort::Value::CreateTensor<float>(mem, mel.data(), mel.size(), shape.data(), 4);
  const char* in_names[] = {"mel_spectrogram"};
  const char* out_names[] = {"audio_features"};
  auto out = session.Run(Ort::RunOptions{}, in_names, &input, 1, out_names, 1);
  EXPECT_EQ(out[0].GetTensorTypeAndShapeInfo().GetShape(), (std::vector<int64_t>{batch, 512}));
  const float* f = out[0].GetTensorData<float>();
  EXPECT_GE(*std::min_element(f, f + batch * 512), 0.f);
  EXPECT_GT(*std::max_element(f, f + batch * 512), 0.f);
}

TEST(TestModels, EncoderMapsMelWindowsToNonNegativeFeatures) { check_encoder("encoder.onnx"); }
TEST(TestModels, TinyEncoderHasTheSameContract) { check_encoder("encoder_tiny.onnx"); }

}  // namespace
