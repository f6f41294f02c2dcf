// The demo models (tools/make_demo_models.py): the encoder's features follow loudness over
// time, and the UNet draws a mouth opening whose height follows the loudness of the frame's
// own 40 ms, leaving the rest of the reference image untouched.
#include <gtest/gtest.h>
#include <onnxruntime_cxx_api.h>

#include <numeric>
#include <vector>

#include "support/test_paths.h"

namespace {

constexpr int kRoi = 320;
constexpr int kMouthX = 160;  // tools/make_demo_models.py MOUTH_X / MOUTH_Y
constexpr int kMouthY = 224;

Ort::Env& env() {
  static Ort::Env e(ORT_LOGGING_LEVEL_WARNING, "demo_models");
  return e;
}

Ort::Session open(const char* file) {
  const auto path = lipsync::testing::test_models_dir() / file;
  return Ort::Session(env(), path.c_str(), Ort::SessionOptions{});
}

Ort::Value tensor(std::vector<float>& data, std::vector<int64_t> shape) {
  static const auto mem = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  return Ort::Value::CreateTensor<float>(mem, data.data(), data.size(), shape.data(), shape.size());
}

TEST(DemoModels, EncoderFeaturesFollowLoudnessPerMelRow) {
  auto session = open("demo_encoder.onnx");
  std::vector<float> mel(80 * 16, -4.f);  // silence everywhere ...
  for (int bin = 0; bin < 80; ++bin) mel[bin * 16 + 5] = 0.f;  // ... except mel row 5 (loudness 4)
  auto input = tensor(mel, {1, 1, 80, 16});
  const char* in[] = {"mel_spectrogram"};
  const char* out[] = {"audio_features"};
  auto result = session.Run(Ort::RunOptions{}, in, &input, 1, out, 1);
  const float* f = result[0].GetTensorData<float>();
  for (int j = 0; j < 512; ++j) EXPECT_FLOAT_EQ(f[j], j % 16 == 5 ? 4.f : 0.f) << j;
}

// Runs the demo UNet on a textured image with the given loudness in the frame's slot.
std::vector<float> run_unet(float loudness, std::vector<float>& image) {
  auto session = open("demo_unet.onnx");
  std::vector<float> audio(32 * 16 * 16, 0.f);
  for (int col = 0; col < 4; ++col) audio[18 * 256 + col] = loudness;  // channel 18, row 0
  audio[17 * 256] = 9.f;  // loudness elsewhere in the window must not matter
  std::array<Ort::Value, 2> inputs{tensor(image, {1, 6, kRoi, kRoi}), tensor(audio, {1, 32, 16, 16})};
  const char* in[] = {"input", "audio"};
  const char* out[] = {"output"};
  auto result = session.Run(Ort::RunOptions{}, in, inputs.data(), 2, out, 1);
  const float* o = result[0].GetTensorData<float>();
  return {o, o + 3 * kRoi * kRoi};
}

int dark_rows_at_mouth_centre(const std::vector<float>& out, const std::vector<float>& image) {
  int rows = 0;
  for (int y = 0; y < kRoi; ++y) {
    const std::size_t i = static_cast<std::size_t>(y) * kRoi + kMouthX;
    rows += out[i] < image[i] - 0.2f;  // blue channel: the mouth colour is far darker than 0.7
  }
  return rows;
}

TEST(DemoModels, UnetMouthHeightFollowsLoudnessAndKeepsTheRest) {
  std::vector<float> image(6 * kRoi * kRoi);
  for (std::size_t i = 0; i < image.size(); ++i) image[i] = 0.7f + 0.2f * ((i * 7919) % 13) / 13.f;
  const auto quiet = run_unet(0.5f, image);
  const auto medium = run_unet(3.f, image);
  const auto loud = run_unet(5.f, image);
  EXPECT_EQ(dark_rows_at_mouth_centre(quiet, image), 0);
  const int medium_rows = dark_rows_at_mouth_centre(medium, image);
  const int loud_rows = dark_rows_at_mouth_centre(loud, image);
  EXPECT_GT(medium_rows, 10);
  EXPECT_GT(loud_rows, medium_rows + 10);
  // Far from the mouth the output is the reference image exactly.
  for (int c = 0; c < 3; ++c) {
    for (int y : {0, 100, kMouthY - 40, kMouthY + 40, 319}) {
      for (int x : {0, 50, kMouthX - 60, kMouthX + 60, 319}) {
        const std::size_t i = (static_cast<std::size_t>(c) * kRoi + y) * kRoi + x;
        EXPECT_EQ(loud[i], image[i]) << c << "," << y << "," << x;
      }
    }
  }
}

}  // namespace
