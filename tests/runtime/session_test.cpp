// Session: batched runs, float16 models, validation at load, clear errors.
#include "runtime/session.h"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "support/test_paths.h"
#include "unet_test_inputs.h"

namespace lipsync::runtime {
namespace {

using namespace testing_inputs;  // NOLINT(google-build-using-namespace): test helpers

SessionOptions cpu_options() {
  SessionOptions options;
  options.intra_op_threads = 2;
  return options;
}

std::unique_ptr<Session> open_unet(const char* file) {
  auto session = Session::create(testing::test_models_dir() / file, cpu_options(), unet_inputs(),
                                 unet_outputs());
  EXPECT_TRUE(session.ok()) << session.status().to_string();
  return session.ok() ? std::move(session).value() : nullptr;
}

std::vector<float> run_unet(Session& unet, std::span<const float> image,
                            std::span<const float> audio, int64_t batch) {
  const std::array<std::span<const float>, 2> inputs{image, audio};
  auto out = unet.run(inputs, batch);
  EXPECT_TRUE(out.ok()) << out.status().to_string();
  return out.ok() ? out->at(0) : std::vector<float>{};
}

TEST(Session, BatchedRunEqualsPerFrameRuns) {
  auto unet = open_unet("unet_tiny.onnx");
  ASSERT_NE(unet, nullptr);
  EXPECT_EQ(unet->element_type(), ElementType::kFloat32);
  const int64_t batch = 3;
  const auto image = random_values(batch * kImageValues, 1);
  const auto audio = random_values(batch * kAudioValues, 2);
  const auto batched = run_unet(*unet, image, audio, batch);
  ASSERT_EQ(batched.size(), static_cast<std::size_t>(batch * kOutputValues));
  for (int64_t b = 0; b < batch; ++b) {
    const auto single = run_unet(*unet, std::span(image).subspan(b * kImageValues, kImageValues),
                                 std::span(audio).subspan(b * kAudioValues, kAudioValues), 1);
    ASSERT_EQ(single.size(), static_cast<std::size_t>(kOutputValues));
    for (int64_t i = 0; i < kOutputValues; ++i) {
      ASSERT_NEAR(batched[b * kOutputValues + i], single[i], 1e-6)
          << "frame " << b << " value " << i;
    }
  }
}

TEST(Session, ConcurrentRunsGiveTheSameResults) {
  auto unet = open_unet("unet_tiny.onnx");
  ASSERT_NE(unet, nullptr);
  const auto image = random_values(2 * kImageValues, 3);
  const auto audio = random_values(2 * kAudioValues, 4);
  const auto expected = run_unet(*unet, image, audio, 2);
  std::vector<std::vector<float>> got(4);
  std::vector<std::thread> threads;
  for (auto& g : got) threads.emplace_back([&] { g = run_unet(*unet, image, audio, 2); });
  for (auto& t : threads) t.join();
  for (const auto& g : got) EXPECT_EQ(g, expected);
}

TEST(Session, EncoderWithAnyInputName) {
  auto encoder = Session::create(testing::test_models_dir() / "encoder_tiny.onnx", cpu_options(),
                                 {{"", {-1, 1, 80, 16}}}, {{"", {-1, 512}}});
  ASSERT_TRUE(encoder.ok()) << encoder.status().to_string();
  EXPECT_EQ((*encoder)->inputs()[0].name, "mel_spectrogram");
  EXPECT_EQ((*encoder)->outputs()[0].name, "audio_features");
  const auto mel = random_values(5 * 80 * 16, 5);
  const std::array<std::span<const float>, 1> inputs{mel};
  auto out = (*encoder)->run(inputs, 5);
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_EQ(out->at(0).size(), 5u * 512u);
}

// Float16 models: detected from the input element type, fed half values and read back as float.
// ORT's CPU provider runs them (it casts around float16 nodes it has no kernel for), so the
// float16 model is checked against the float32 model with the same weights.
std::vector<float> run_model(const char* file, const std::vector<TensorSpec>& inputs,
                             const std::vector<TensorSpec>& outputs, ElementType expected_type) {
  auto session = Session::create(testing::test_models_dir() / file, cpu_options(), inputs, outputs);
  EXPECT_TRUE(session.ok()) << session.status().to_string();
  if (!session.ok()) return {};
  EXPECT_EQ((*session)->element_type(), expected_type);
  std::vector<std::vector<float>> values;
  for (const auto& spec : (*session)->inputs())
    values.push_back(random_values(2 * values_per_frame(spec), 11));
  const std::vector<std::span<const float>> spans(values.begin(), values.end());
  auto out = (*session)->run(spans, 2);
  EXPECT_TRUE(out.ok()) << out.status().to_string();
  return out.ok() ? out->at(0) : std::vector<float>{};
}

void expect_close(const std::vector<float>& half, const std::vector<float>& full, float tolerance) {
  ASSERT_EQ(half.size(), full.size());
  ASSERT_FALSE(full.empty());
  float worst = 0.f;
  for (std::size_t i = 0; i < full.size(); ++i)
    worst = std::max(worst, std::abs(half[i] - full[i]));
  EXPECT_LT(worst, tolerance);
}

TEST(Session, Float16EncoderMatchesFloat32) {
  const std::vector<TensorSpec> in{{"", {-1, 1, 80, 16}}}, out{{"", {-1, 512}}};
  const auto full = run_model("encoder.onnx", in, out, ElementType::kFloat32);
  const auto half = run_model("encoder_fp16.onnx", in, out, ElementType::kFloat16);
  const float scale = *std::max_element(full.begin(), full.end());
  expect_close(half, full, 0.02f * scale);
}

TEST(Session, Float16UnetMatchesFloat32) {
  const auto full = run_model("unet.onnx", unet_inputs(), unet_outputs(), ElementType::kFloat32);
  const auto half =
      run_model("unet_fp16.onnx", unet_inputs(), unet_outputs(), ElementType::kFloat16);
  expect_close(half, full, 0.02f);  // sigmoid outputs in (0, 1)
}

void expect_load_error(const char* file, std::vector<TensorSpec> inputs,
                       std::vector<TensorSpec> outputs, std::vector<std::string> mentions) {
  auto session = Session::create(testing::test_models_dir() / file, cpu_options(), inputs, outputs);
  ASSERT_FALSE(session.ok());
  EXPECT_EQ(session.status().code(), ErrorCode::kInvalidArgument);
  mentions.push_back(file);
  for (const auto& m : mentions) {
    EXPECT_NE(session.status().message().find(m), std::string::npos)
        << session.status().message() << " lacks " << m;
  }
}

float max_difference(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  EXPECT_FALSE(a.empty());
  float worst = a.size() == b.size() ? 0.f : 1.f;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    worst = std::max(worst, std::abs(a[i] - b[i]));
  return worst;
}

// torch.onnx.export without input_names/output_names: `input.1`, `input.177` (here listed audio
// first) and a numbered output, the same weights as unet_tiny.onnx.
TEST(Session, OtherNamesAreRecognisedByShape) {
  auto named = open_unet("unet_tiny.onnx");
  auto exported = open_unet("unet_tiny_torch_names.onnx");
  ASSERT_TRUE(named && exported);
  EXPECT_EQ(exported->inputs()[0].name, "input.1");
  EXPECT_EQ(exported->inputs()[1].name, "input.177");
  EXPECT_EQ(exported->outputs()[0].name, "1049");
  const auto image = random_values(2 * kImageValues, 3);
  const auto audio = random_values(2 * kAudioValues, 4);
  EXPECT_LE(max_difference(run_unet(*named, image, audio, 2), run_unet(*exported, image, audio, 2)),
            1e-6f);

  // A spec name the model lacks is matched by shape too.
  auto renamed = Session::create(testing::test_models_dir() / "unet_tiny.onnx", cpu_options(),
                                 {{"image", {-1, 6, 320, 320}}, {"audio", {-1, 32, 16, 16}}},
                                 {{"out", {-1, 3, 320, 320}}});
  ASSERT_TRUE(renamed.ok()) << renamed.status().to_string();
  EXPECT_EQ((*renamed)->inputs()[0].name, "input");
  EXPECT_EQ((*renamed)->outputs()[0].name, "output");
}

TEST(Session, UnknownNameWithoutItsShapeIsRejectedAtLoad) {
  expect_load_error("unet_tiny.onnx", {{"image", {-1, 6, 256, 256}}, {"audio", {-1, 32, 16, 16}}},
                    unet_outputs(),
                    {"no input named 'image' and none of its shape [-1,6,256,256]",
                     "expected inputs 'image' [-1,6,256,256], 'audio' [-1,32,16,16]",
                     "'input' [-1,6,320,320] float32"});
}

// The reference export has no dynamic batch axis: the fixed batch is taken from the model and
// runs of another size are refused (the pipeline runs such models in chunks).
TEST(Session, FixedBatchIsTakenFromTheModel) {
  auto dynamic = open_unet("unet_tiny.onnx");
  auto fixed = open_unet("unet_tiny_batch1.onnx");
  ASSERT_TRUE(dynamic && fixed);
  EXPECT_EQ(dynamic->inputs()[0].shape[0], -1);
  EXPECT_EQ(fixed->inputs()[0].shape[0], 1);
  EXPECT_EQ(fixed->inputs()[1].shape[0], 1);
  const auto image = random_values(2 * kImageValues, 5);
  const auto audio = random_values(2 * kAudioValues, 6);
  const auto one = std::span(image).first(kImageValues);
  const auto one_audio = std::span(audio).first(kAudioValues);
  EXPECT_LE(
      max_difference(run_unet(*fixed, one, one_audio, 1), run_unet(*dynamic, one, one_audio, 1)),
      1e-6f);
  const std::array<std::span<const float>, 2> two{image, audio};
  auto refused = fixed->run(two, 2);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("batch 2 is not accepted"), std::string::npos)
      << refused.status().message();
}

TEST(Session, WrongShapeIsRejectedAtLoad) {
  expect_load_error("unet_tiny.onnx", {{"input", {-1, 6, 256, 256}}, {"audio", {-1, 32, 16, 16}}},
                    unet_outputs(), {"[-1,6,256,256]", "[-1,6,320,320]", "'input'"});
  expect_load_error("unet_tiny.onnx", {{"input", {-1, 6, 320}}, {"audio", {-1, 32, 16, 16}}},
                    unet_outputs(), {"[-1,6,320]"});
  expect_load_error("encoder_tiny.onnx", unet_inputs(), unet_outputs(),
                    {"expected 2 input(s)", "mel_spectrogram"});
}

TEST(Session, MissingAndCorruptFilesGiveClearErrors) {
  const auto missing = testing::temp_dir() / "missing.onnx";
  auto a = Session::create(missing, cpu_options(), unet_inputs(), unet_outputs());
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(a.status().message().find(missing.string()), std::string::npos);

  const auto corrupt = testing::temp_dir() / "corrupt.onnx";
  std::ofstream(corrupt) << "this is not a protobuf";
  auto b = Session::create(corrupt, cpu_options(), unet_inputs(), unet_outputs());
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), ErrorCode::kDataLoss);
  EXPECT_NE(b.status().message().find(corrupt.string()), std::string::npos);
}

TEST(Session, CudaWithoutItsLibraryIsAClearError) {
  RuntimeSection runtime;  // as `execution_provider: cuda` in the server YAML
  runtime.execution_provider = ExecutionProvider::kCuda;
  runtime.cuda_ep_library = testing::temp_dir() / "libonnxruntime_providers_cuda.so";
  const SessionOptions options = session_options_from(runtime);
  auto a = Session::create(testing::test_models_dir() / "unet_tiny.onnx", options, unet_inputs(),
                           unet_outputs());
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(a.status().message().find("CUDA"), std::string::npos);
  EXPECT_NE(a.status().message().find(options.cuda_ep_library.string()), std::string::npos);
  // What to do names the configuration key a user can set.
  EXPECT_NE(a.status().message().find("onnx.cuda_ep_library"), std::string::npos);
}

TEST(Session, OptionsFromTheRuntimeSection) {
  RuntimeSection runtime;
  EXPECT_TRUE(session_options_from(runtime).cuda_nhwc);
  EXPECT_FALSE(session_options_from(runtime).cuda_graph);
  runtime.cuda_nhwc = false;
  runtime.cuda_graph = true;
  runtime.device_id = 2;
  const SessionOptions options = session_options_from(runtime);
  EXPECT_FALSE(options.cuda_nhwc);
  EXPECT_TRUE(options.cuda_graph);
  EXPECT_EQ(options.device_id, 2);
}

// Commands without a configuration build from an empty section: that must mean the defaults.
TEST(Session, OptionsFromAnEmptySectionAreTheDefaults) {
  const SessionOptions built = session_options_from({});
  const SessionOptions defaults;
  EXPECT_EQ(built.provider, defaults.provider);
  EXPECT_EQ(built.intra_op_threads, defaults.intra_op_threads);
  EXPECT_EQ(built.device_id, defaults.device_id);
  EXPECT_EQ(built.cuda_ep_library, defaults.cuda_ep_library);
  EXPECT_EQ(built.cuda_options, defaults.cuda_options);
  EXPECT_EQ(built.cuda_nhwc, defaults.cuda_nhwc);
  EXPECT_EQ(built.upload_in_advance, defaults.upload_in_advance);
  EXPECT_EQ(built.cuda_graph, defaults.cuda_graph);
}

TEST(Session, ConfiguredCudaOptionsAreAMapAndFlagsWinKeyByKey) {
  RuntimeSection runtime;
  runtime.cuda_options = {"fuse_conv_bias=0", "cudnn_conv_use_max_workspace=0"};
  EXPECT_EQ(session_options_from(runtime).cuda_options,
            (std::map<std::string, std::string>{{"cudnn_conv_use_max_workspace", "0"},
                                                {"fuse_conv_bias", "0"}}));
  const SessionOptions flagged = session_options_from(
      runtime, {.cuda_options = std::map<std::string, std::string>{{"fuse_conv_bias", "1"}}});
  EXPECT_EQ(flagged.cuda_options,
            (std::map<std::string, std::string>{{"cudnn_conv_use_max_workspace", "0"},
                                                {"fuse_conv_bias", "1"}}));
}

// The CUDA EP's options: NHWC convolutions with cuDNN's fused convolution + bias by default;
// NCHW ones unfused (no fused plan for the fp16 encoder's first convolution, docs/gpu.md); what
// cuda_options names wins.
TEST(Session, CudaProviderOptionsFuseConvolutionsOnlyInNhwc) {
  using Options = std::map<std::string, std::string>;
  SessionOptions options;
  EXPECT_EQ(cuda_provider_options(options),
            (Options{{"fuse_conv_bias", "1"}, {"prefer_nhwc", "1"}}));
  options.cuda_nhwc = false;
  EXPECT_EQ(cuda_provider_options(options), (Options{{"prefer_nhwc", "0"}}));
  options.cuda_options = {{"fuse_conv_bias", "1"}, {"prefer_nhwc", "1"}};
  EXPECT_EQ(cuda_provider_options(options),
            (Options{{"fuse_conv_bias", "1"}, {"prefer_nhwc", "1"}}));
  options.cuda_nhwc = true;
  options.cuda_options = {{"fuse_conv_bias", "0"}};
  options.cuda_graph = true;
  EXPECT_EQ(cuda_provider_options(options),
            (Options{{"enable_cuda_graph", "1"}, {"fuse_conv_bias", "0"}, {"prefer_nhwc", "1"}}));
}

TEST(Session, FlagsOverrideTheRuntimeSection) {
  RuntimeSection runtime;
  runtime.intra_op_threads = 3;
  runtime.device_id = 1;
  runtime.cuda_graph = true;
  const SessionOptions kept = session_options_from(runtime, {.provider = ExecutionProvider::kCuda});
  EXPECT_EQ(kept.provider, ExecutionProvider::kCuda);
  EXPECT_EQ(kept.intra_op_threads, 3);
  EXPECT_EQ(kept.device_id, 1);
  EXPECT_TRUE(kept.cuda_graph);
  const SessionOptions flagged =
      session_options_from(runtime, {.intra_op_threads = 8,
                                     .device_id = 0,
                                     .cuda_ep_library = "/opt/ep.so",
                                     .cuda_options = std::map<std::string, std::string>{{"k", "v"}},
                                     .cuda_nhwc = false,
                                     .upload_in_advance = false,
                                     .cuda_graph = false});
  EXPECT_EQ(flagged.provider, ExecutionProvider::kCpu);  // from the section
  EXPECT_EQ(flagged.intra_op_threads, 8);
  EXPECT_EQ(flagged.device_id, 0);
  EXPECT_EQ(flagged.cuda_ep_library, "/opt/ep.so");
  EXPECT_EQ(flagged.cuda_options.at("k"), "v");
  EXPECT_FALSE(flagged.cuda_nhwc);
  EXPECT_FALSE(flagged.upload_in_advance);
  EXPECT_FALSE(flagged.cuda_graph);
}

// A test UNet ("unet*.onnx") or audio encoder on the CPU.
Result<std::unique_ptr<Session>> open_unet_or_encoder(const std::string& file) {
  const bool unet = file.starts_with("unet");
  return Session::create(testing::test_models_dir() / file, cpu_options(),
                         unet ? unet_inputs() : std::vector<TensorSpec>{{"", {-1, 1, 80, 16}}},
                         unet ? unet_outputs() : std::vector<TensorSpec>{{"", {-1, 512}}});
}

TEST(Session, RunIntoCallerBuffersEqualsRun) {
  for (const char* file : {"unet_tiny.onnx", "encoder_fp16.onnx"}) {
    auto session = open_unet_or_encoder(file);
    ASSERT_TRUE(session.ok()) << session.status().to_string();
    std::vector<std::vector<float>> values;
    for (const auto& spec : (*session)->inputs())
      values.push_back(random_values(2 * values_per_frame(spec), 9));
    const std::vector<std::span<const float>> inputs(values.begin(), values.end());
    auto expected = (*session)->run(inputs, 2);
    ASSERT_TRUE(expected.ok()) << expected.status().to_string();
    std::vector<float> buffer(expected->at(0).size(), -1.f);
    const std::array<std::span<float>, 1> outputs{buffer};
    ASSERT_TRUE((*session)->run_into(inputs, 2, outputs).ok());
    EXPECT_EQ(buffer, expected->at(0)) << file;
    std::vector<float> too_small(buffer.size() - 1);
    const std::array<std::span<float>, 1> wrong{too_small};
    EXPECT_EQ((*session)->run_into(inputs, 2, wrong).code(), ErrorCode::kInvalidArgument);
  }
}

TEST(Session, StagedBatchesEqualRunAndMayOverlap) {
  for (const char* file : {"unet_tiny.onnx", "encoder_fp16.onnx"}) {
    auto session = open_unet_or_encoder(file);
    ASSERT_TRUE(session.ok()) << session.status().to_string();
    Session& model = **session;
    // Two batches staged before either runs, run in the opposite order, read afterwards.
    std::array<std::vector<std::vector<float>>, 2> values;
    std::array<std::vector<float>, 2> expected;
    std::vector<Session::Batch> staged;
    for (int b = 0; b < 2; ++b) {
      for (const auto& spec : model.inputs())
        values[b].push_back(random_values(3 * values_per_frame(spec), 40 + b));
      const std::vector<std::span<const float>> inputs(values[b].begin(), values[b].end());
      auto run = model.run(inputs, 3);
      ASSERT_TRUE(run.ok()) << run.status().to_string();
      expected[b] = run->at(0);
      auto batch = model.stage(inputs, 3);
      ASSERT_TRUE(batch.ok()) << batch.status().to_string();
      EXPECT_EQ(batch->size(), 3);
      staged.push_back(std::move(batch).value());
    }
    std::vector<float> out(expected[0].size());
    const std::array<std::span<float>, 1> outputs{out};
    EXPECT_EQ(model.read_outputs(staged[0], outputs).code(), ErrorCode::kInvalidArgument)
        << "outputs of a batch that has not run";
    for (int b : {1, 0}) ASSERT_TRUE(model.execute(staged[b]).ok()) << file;
    for (int b = 0; b < 2; ++b) {
      ASSERT_TRUE(model.read_outputs(staged[b], outputs).ok());
      EXPECT_EQ(out, expected[b]) << file << " batch " << b;
    }
    std::vector<float> too_small(out.size() - 1);
    const std::array<std::span<float>, 1> wrong{too_small};
    EXPECT_EQ(model.read_outputs(staged[0], wrong).code(), ErrorCode::kInvalidArgument);
  }
}

TEST(Session, StagingRejectsWrongInputs) {
  auto unet = open_unet("unet_tiny.onnx");
  ASSERT_NE(unet, nullptr);
  const auto image = random_values(kImageValues, 1);
  const auto audio = random_values(kAudioValues, 2);
  const std::array<std::span<const float>, 2> inputs{image, audio};
  EXPECT_EQ(unet->stage(inputs, 2).status().code(), ErrorCode::kInvalidArgument);
  Session::Batch empty = std::move(unet->stage(inputs, 1)).value();
  Session::Batch moved = std::move(empty);
  EXPECT_EQ(unet->execute(empty).code(), ErrorCode::kInvalidArgument);  // NOLINT: moved-from
  EXPECT_TRUE(unet->execute(moved).ok());
  auto batch = unet->new_batch(1);
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->write_input(0, 1, image).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(batch->write_input(2, 0, audio).code(), ErrorCode::kInvalidArgument);
  std::vector<float> face(kOutputValues);
  EXPECT_EQ(batch->read_output(0, 0, face).code(), ErrorCode::kInvalidArgument) << "not run";
}

TEST(Session, BatchWrittenFrameByFrameEqualsRun) {
  auto unet = open_unet("unet_fp16.onnx");
  ASSERT_NE(unet, nullptr);
  const auto image = random_values(2 * kImageValues, 5);
  const auto audio = random_values(2 * kAudioValues, 6);
  const auto want = run_unet(*unet, image, audio, 2);
  auto batch = unet->new_batch(2);
  ASSERT_TRUE(batch.ok()) << batch.status().to_string();
  for (std::size_t k : {1, 0}) {  // any order
    ASSERT_TRUE(batch
                    ->write_input(0, k * kImageValues,
                                  std::span(image).subspan(k * kImageValues, kImageValues))
                    .ok());
    ASSERT_TRUE(batch
                    ->write_input(1, k * kAudioValues,
                                  std::span(audio).subspan(k * kAudioValues, kAudioValues))
                    .ok());
  }
  ASSERT_TRUE(unet->execute(*batch).ok());
  std::vector<float> face(kOutputValues);
  for (std::size_t k = 0; k < 2; ++k) {
    ASSERT_TRUE(batch->read_output(0, k * kOutputValues, face).ok());
    EXPECT_TRUE(std::equal(face.begin(), face.end(), want.begin() + k * kOutputValues))
        << "frame " << k;
  }
  EXPECT_EQ(batch->read_output(0, kOutputValues + 1, face).code(), ErrorCode::kInvalidArgument);
}

// A device executor holds up to five batches at once (runtime/staging.h), of up to seven sizes;
// a pool smaller than that would make (and on CUDA free, which synchronises the device) staging
// memory at every round of steady serving.
TEST(Session, StagingPoolKeepsFiveBatchesOfEverySizeInFlight) {
  auto unet = open_unet("unet_fp16.onnx");
  ASSERT_NE(unet, nullptr);
  constexpr std::array<int64_t, 7> kSizes{1, 2, 4, 8, 16, 25, 32};
  for (int round = 0; round < 3; ++round) {
    for (int64_t size : kSizes) {
      std::vector<Session::Batch> in_flight;
      for (int k = 0; k < 5; ++k) {
        auto batch = unet->new_batch(size);
        ASSERT_TRUE(batch.ok()) << batch.status().to_string();
        in_flight.push_back(std::move(batch).value());
      }
    }  // given back
    EXPECT_EQ(unet->stagings_made(), std::ssize(kSizes) * 5) << "after round " << round;
  }
}

TEST(Session, RunRejectsWrongInputSizes) {
  auto unet = open_unet("unet_tiny.onnx");
  ASSERT_NE(unet, nullptr);
  const auto image = random_values(kImageValues, 1);
  const auto audio = random_values(kAudioValues, 2);
  const std::array<std::span<const float>, 2> inputs{image, audio};
  auto wrong_batch = unet->run(inputs, 2);
  ASSERT_FALSE(wrong_batch.ok());
  EXPECT_NE(wrong_batch.status().message().find("'input'"), std::string::npos);
  const std::array<std::span<const float>, 1> too_few{image};
  EXPECT_FALSE(unet->run(too_few, 1).ok());
  EXPECT_FALSE(unet->run(inputs, 0).ok());
}

}  // namespace
}  // namespace lipsync::runtime

namespace lipsync::runtime {
namespace {

// CUDA against CPU on the same inputs: runs where LIPSYNC_TEST_CUDA=1 (the GPU machine, see
// scripts/device_bench.sh); elsewhere there is no CUDA device to compare with.
TEST(SessionCuda, MatchesCpuForFloat32AndFloat16) {
  if (std::getenv("LIPSYNC_TEST_CUDA") == nullptr) GTEST_SKIP() << "LIPSYNC_TEST_CUDA not set";
  for (const char* file : {"unet_tiny.onnx", "unet_fp16.onnx"}) {
    SessionOptions cuda;
    cuda.provider = ExecutionProvider::kCuda;
    auto gpu =
        Session::create(testing::test_models_dir() / file, cuda, unet_inputs(), unet_outputs());
    ASSERT_TRUE(gpu.ok()) << gpu.status().to_string();
    auto cpu = open_unet(file);
    ASSERT_NE(cpu, nullptr);
    for (int64_t batch : {1, 3}) {
      const auto image = random_values(batch * kImageValues, 20 + batch);
      const auto audio = random_values(batch * kAudioValues, 30 + batch);
      const auto want = run_unet(*cpu, image, audio, batch);
      const auto got = run_unet(**gpu, image, audio, batch);
      ASSERT_EQ(got.size(), want.size());
      float worst = 0.f;
      for (std::size_t i = 0; i < want.size(); ++i)
        worst = std::max(worst, std::abs(got[i] - want[i]));
      EXPECT_LT(worst, (*gpu)->element_type() == ElementType::kFloat16 ? 2e-2f : 1e-3f)
          << file << " batch " << batch;
      // The staged path (inputs uploaded before the run, outputs downloaded after it) gives
      // the same values as run().
      const std::array<std::span<const float>, 2> inputs{image, audio};
      auto staged = (*gpu)->stage(inputs, batch);
      ASSERT_TRUE(staged.ok()) << staged.status().to_string();
      ASSERT_TRUE((*gpu)->upload(*staged).ok());
      ASSERT_TRUE((*gpu)->execute(*staged).ok());
      std::vector<float> read(got.size());
      const std::array<std::span<float>, 1> outputs{read};
      ASSERT_TRUE((*gpu)->read_outputs(*staged, outputs).ok());
      float staged_worst = 0.f;
      for (std::size_t i = 0; i < got.size(); ++i)
        staged_worst = std::max(staged_worst, std::abs(read[i] - got[i]));
      EXPECT_LE(staged_worst, 1e-6f) << file << " batch " << batch << " (staged)";
    }
  }
}

// With CUDA graphs, execute() of staged batches replays a graph per batch size after a few
// uncaptured runs; every replay must read its own batch's inputs (copied into the graph's fixed
// tensors) and give what an uncaptured run of the same session gives.
TEST(SessionCuda, GraphReplaysFollowTheirInputs) {
  if (std::getenv("LIPSYNC_TEST_CUDA") == nullptr) GTEST_SKIP() << "LIPSYNC_TEST_CUDA not set";
  for (const char* file : {"unet_tiny.onnx", "unet_fp16.onnx"}) {
    SessionOptions options;
    options.provider = ExecutionProvider::kCuda;
    options.cuda_graph = true;
    auto gpu =
        Session::create(testing::test_models_dir() / file, options, unet_inputs(), unet_outputs());
    ASSERT_TRUE(gpu.ok()) << gpu.status().to_string();
    // Two sizes, two graphs; one size after the other, since each change of shape costs the
    // CUDA EP seconds (the server pads its batches to one size).
    for (int64_t batch : {2, 3}) {
      for (int i = 0; i < 8; ++i) {
        const auto image = random_values(batch * kImageValues, 100 * i + batch);
        const auto audio = random_values(batch * kAudioValues, 100 * i + batch + 50);
        const auto want = run_unet(**gpu, image, audio, batch);  // run(): never captured
        const std::array<std::span<const float>, 2> inputs{image, audio};
        auto staged = (*gpu)->stage(inputs, batch);
        ASSERT_TRUE(staged.ok()) << staged.status().to_string();
        ASSERT_TRUE((*gpu)->execute(*staged).ok());
        std::vector<float> got(want.size());
        const std::array<std::span<float>, 1> outputs{got};
        ASSERT_TRUE((*gpu)->read_outputs(*staged, outputs).ok());
        float worst = 0.f;
        for (std::size_t k = 0; k < want.size(); ++k)
          worst = std::max(worst, std::abs(got[k] - want[k]));
        EXPECT_LE(worst, 1e-6f) << file << " batch " << batch << " execution " << i;
      }
    }
  }
}

// batch_sessions: sizes 1 and 2 run on sessions of their own, 3 on the first one; runs that
// alternate sizes (what the server's executor does) give what a plain session gives for each.
TEST(SessionCuda, BatchSessionsAlternateSizesAndMatchAPlainSession) {
  if (std::getenv("LIPSYNC_TEST_CUDA") == nullptr) GTEST_SKIP() << "LIPSYNC_TEST_CUDA not set";
  SessionOptions options;
  options.provider = ExecutionProvider::kCuda;
  auto plain = Session::create(testing::test_models_dir() / "unet_fp16.onnx", options,
                               unet_inputs(), unet_outputs());
  ASSERT_TRUE(plain.ok()) << plain.status().to_string();
  options.batch_sessions = {1, 2};
  auto split = Session::create(testing::test_models_dir() / "unet_fp16.onnx", options,
                               unet_inputs(), unet_outputs());
  ASSERT_TRUE(split.ok()) << split.status().to_string();
  std::map<int64_t, std::vector<float>> image, audio, want;
  for (int64_t batch : {1, 2, 3}) {  // the plain session one size after the other
    image[batch] = random_values(batch * kImageValues, 300 + batch);
    audio[batch] = random_values(batch * kAudioValues, 400 + batch);
    want[batch] = run_unet(**plain, image[batch], audio[batch], batch);
  }
  for (int round = 0; round < 3; ++round) {
    for (int64_t batch : {1, 3, 2, 1, 2, 3}) {
      const auto start = std::chrono::steady_clock::now();
      const std::array<std::span<const float>, 2> inputs{image[batch], audio[batch]};
      auto staged = (*split)->stage(inputs, batch);
      ASSERT_TRUE(staged.ok()) << staged.status().to_string();
      ASSERT_TRUE((*split)->execute(*staged).ok());
      std::vector<float> got(want[batch].size());
      const std::array<std::span<float>, 1> outputs{got};
      ASSERT_TRUE((*split)->read_outputs(*staged, outputs).ok());
      float worst = 0.f;
      for (std::size_t k = 0; k < got.size(); ++k)
        worst = std::max(worst, std::abs(got[k] - want[batch][k]));
      EXPECT_LE(worst, 1e-2f) << "batch " << batch << " round " << round;
      std::printf(
          "round %d batch %lld: %.1f ms\n", round, static_cast<long long>(batch),
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count());
    }
  }
}

// set_arena_shrinking (a model's warm-up): ORT accepts the shrinking runs (the arena of the
// session's device is found) and they give what runs without it give, staged or not.
TEST(SessionCuda, ArenaShrinkingRunsMatchRunsWithout) {
  if (std::getenv("LIPSYNC_TEST_CUDA") == nullptr) GTEST_SKIP() << "LIPSYNC_TEST_CUDA not set";
  SessionOptions options;
  options.provider = ExecutionProvider::kCuda;
  auto gpu = Session::create(testing::test_models_dir() / "unet_fp16.onnx", options, unet_inputs(),
                             unet_outputs());
  ASSERT_TRUE(gpu.ok()) << gpu.status().to_string();
  constexpr int64_t kBatch = 2;
  const auto image = random_values(kBatch * kImageValues, 500);
  const auto audio = random_values(kBatch * kAudioValues, 501);
  const auto want = run_unet(**gpu, image, audio, kBatch);
  (*gpu)->set_arena_shrinking(true);
  for (int i = 0; i < 2; ++i) {
    const auto got = run_unet(**gpu, image, audio, kBatch);
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t k = 0; k < got.size(); ++k) ASSERT_EQ(got[k], want[k]) << "value " << k;
    const std::array<std::span<const float>, 2> inputs{image, audio};
    auto staged = (*gpu)->stage(inputs, kBatch);
    ASSERT_TRUE(staged.ok()) << staged.status().to_string();
    ASSERT_TRUE((*gpu)->execute(*staged).ok());
    std::vector<float> read(want.size());
    const std::array<std::span<float>, 1> outputs{read};
    ASSERT_TRUE((*gpu)->read_outputs(*staged, outputs).ok());
    for (std::size_t k = 0; k < read.size(); ++k) ASSERT_EQ(read[k], want[k]) << "value " << k;
  }
  (*gpu)->set_arena_shrinking(false);
  EXPECT_EQ(run_unet(**gpu, image, audio, kBatch), want);
}

// A raw enable_cuda_graph option would capture batches at whatever addresses they had.
TEST(SessionCuda, RawGraphOptionIsRefused) {
  if (std::getenv("LIPSYNC_TEST_CUDA") == nullptr) GTEST_SKIP() << "LIPSYNC_TEST_CUDA not set";
  SessionOptions options;
  options.provider = ExecutionProvider::kCuda;
  options.cuda_options["enable_cuda_graph"] = "1";
  auto gpu = Session::create(testing::test_models_dir() / "unet_tiny.onnx", options, unet_inputs(),
                             unet_outputs());
  ASSERT_FALSE(gpu.ok());
  EXPECT_NE(gpu.status().message().find("cuda_graph"), std::string::npos) << gpu.status().message();
}

}  // namespace
}  // namespace lipsync::runtime
