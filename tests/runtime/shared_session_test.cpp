// SessionOptions::share_architecture: models that differ only in their weights run on one set
// of ORT sessions, each with its own weights, and give what sessions of their own give.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <random>
#include <thread>

#include "runtime/session.h"
#include "support/test_paths.h"
#include "unet_test_inputs.h"

namespace lipsync::runtime {
namespace {

using namespace testing_inputs;  // NOLINT(google-build-using-namespace): test helpers

SessionOptions options(bool shared, ExecutionProvider provider = ExecutionProvider::kCpu) {
  SessionOptions o;
  o.provider = provider;
  o.intra_op_threads = 2;
  o.share_architecture = shared;
  return o;
}

std::unique_ptr<Session> open(const char* file, const SessionOptions& o) {
  auto session = Session::create(testing::test_models_dir() / file, o, unet_inputs(),
                                 unet_outputs());
  EXPECT_TRUE(session.ok()) << file << ": " << session.status().to_string();
  return session.ok() ? std::move(session).value() : nullptr;
}

std::vector<float> run(Session& unet, std::span<const float> image, std::span<const float> audio,
                       int64_t batch) {
  const std::array<std::span<const float>, 2> inputs{image, audio};
  auto out = unet.run(inputs, batch);
  EXPECT_TRUE(out.ok()) << out.status().to_string();
  return out.ok() ? out->at(0) : std::vector<float>{};
}

// The same run staged: written, executed, read back.
std::vector<float> run_staged(Session& unet, std::span<const float> image,
                              std::span<const float> audio, int64_t batch, std::size_t values) {
  const std::array<std::span<const float>, 2> inputs{image, audio};
  auto staged = unet.stage(inputs, batch);
  EXPECT_TRUE(staged.ok()) << staged.status().to_string();
  if (!staged.ok()) return {};
  EXPECT_TRUE(unet.execute(*staged).ok());
  std::vector<float> got(values);
  const std::array<std::span<float>, 1> outputs{got};
  EXPECT_TRUE(unet.read_outputs(*staged, outputs).ok());
  return got;
}

float worst_difference(std::span<const float> a, std::span<const float> b) {
  EXPECT_EQ(a.size(), b.size());
  float worst = 0.f;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    worst = std::max(worst, std::abs(a[i] - b[i]));
  return worst;
}

// ORT's CPU kernels for constant weights (prepacked) and for weights given as inputs may round
// differently; the outputs are sigmoids in 0..1.
constexpr float kCpuTolerance = 1e-4f;

TEST(SharedSession, ModelsOfOneArchitectureShareSessionsAndKeepTheirOwnWeights) {
  auto own_a = open("unet_tiny.onnx", options(false));
  auto own_b = open("unet_tiny_other_weights.onnx", options(false));
  auto a = open("unet_tiny.onnx", options(true));
  auto b = open("unet_tiny_other_weights.onnx", options(true));
  ASSERT_TRUE(own_a && own_b && a && b);
  EXPECT_EQ(own_a->sharers(), 1);
  EXPECT_EQ(own_a->own_weight_bytes(), 0);
  EXPECT_EQ(a->sharers(), 2);
  EXPECT_EQ(b->sharers(), 2);
  EXPECT_GT(a->own_weight_bytes(), 0);
  EXPECT_EQ(a->own_weight_bytes(), b->own_weight_bytes());
  EXPECT_EQ(b->model_path().filename(), "unet_tiny_other_weights.onnx");
  for (int64_t batch : {1, 3}) {
    const auto image = random_values(batch * kImageValues, 10 + batch);
    const auto audio = random_values(batch * kAudioValues, 20 + batch);
    const auto want_a = run(*own_a, image, audio, batch);
    const auto want_b = run(*own_b, image, audio, batch);
    ASSERT_GT(worst_difference(want_a, want_b), 1e-2f) << "the two models' weights differ";
    // Interleaved, as an executor runs them: each run binds its own model's weights.
    for (int round = 0; round < 2; ++round) {
      EXPECT_LE(worst_difference(run(*a, image, audio, batch), want_a), kCpuTolerance);
      EXPECT_LE(worst_difference(run(*b, image, audio, batch), want_b), kCpuTolerance);
      EXPECT_LE(worst_difference(run_staged(*b, image, audio, batch, want_b.size()), want_b),
                kCpuTolerance);
      EXPECT_LE(worst_difference(run_staged(*a, image, audio, batch, want_a.size()), want_a),
                kCpuTolerance);
    }
  }
}

TEST(SharedSession, RunsOfTwoModelsFromTwoThreadsKeepTheirOwnWeights) {
  auto a = open("unet_tiny.onnx", options(true));
  auto b = open("unet_tiny_other_weights.onnx", options(true));
  auto own_b = open("unet_tiny_other_weights.onnx", options(false));
  ASSERT_TRUE(a && b && own_b);
  const auto image = random_values(2 * kImageValues, 31);
  const auto audio = random_values(2 * kAudioValues, 32);
  const auto want_a = run(*a, image, audio, 2);
  const auto want_b = run(*own_b, image, audio, 2);
  std::vector<float> worst(2, 0.f);
  std::thread other([&] {
    for (int i = 0; i < 4; ++i)
      worst[1] = std::max(worst[1], worst_difference(run(*b, image, audio, 2), want_b));
  });
  for (int i = 0; i < 4; ++i)
    worst[0] = std::max(worst[0], worst_difference(run(*a, image, audio, 2), want_a));
  other.join();
  EXPECT_EQ(worst[0], 0.f);  // the same sessions and weights as its first run
  EXPECT_LE(worst[1], kCpuTolerance);
}

TEST(SharedSession, OtherGraphsOrOptionsGetSessionsOfTheirOwn) {
  auto a = open("unet_tiny.onnx", options(true));
  ASSERT_TRUE(a);
  // The same weights, a fixed batch of 4: another graph.
  auto fixed = open("unet_tiny_batch4.onnx", options(true));
  ASSERT_TRUE(fixed);
  EXPECT_EQ(fixed->sharers(), 1);
  // The same graph under other session options.
  SessionOptions one_thread = options(true);
  one_thread.intra_op_threads = 1;
  auto b = open("unet_tiny_other_weights.onnx", one_thread);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->sharers(), 1);
  EXPECT_EQ(a->sharers(), 1);
}

TEST(SharedSession, SessionsLastAsLongAsTheirLastModel) {
  auto a = open("unet_tiny.onnx", options(true));
  auto b = open("unet_tiny_other_weights.onnx", options(true));
  ASSERT_TRUE(a && b);
  ASSERT_EQ(b->sharers(), 2);
  const auto image = random_values(kImageValues, 41);
  const auto audio = random_values(kAudioValues, 42);
  const auto want_b = run(*b, image, audio, 1);
  a.reset();
  EXPECT_EQ(b->sharers(), 1);
  EXPECT_EQ(run(*b, image, audio, 1), want_b);
  auto again = open("unet_tiny.onnx", options(true));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->sharers(), 2);  // joined b's sessions
}

TEST(SharedSession, AFileThatIsNotAModelIsAClearError) {
  const auto path = std::filesystem::temp_directory_path() / "lipsync_not_a_model.onnx";
  std::ofstream(path) << "this is not protobuf \xff\xff\xff\xff";
  auto session = Session::create(path, options(true), unet_inputs(), unet_outputs());
  ASSERT_FALSE(session.ok());
  EXPECT_NE(session.status().message().find("lipsync_not_a_model.onnx"), std::string::npos)
      << session.status().to_string();
  std::filesystem::remove(path);
}

// On the GPU (LIPSYNC_TEST_CUDA=1): shared sessions with a session per batch size against
// plain ones, float32 and float16, sizes alternating as an executor runs them. NCHW
// convolutions: with NHWC ones cuDNN builds no plan for kernels given as inputs. It failed on an
// H100 (2026-12-06) with NCHW convolutions then fused, which they no longer are (docs/gpu.md);
// until it passes the server does not share sessions.
TEST(SharedSessionCuda, MatchesSessionsOfTheirOwn) {
  if (std::getenv("LIPSYNC_TEST_CUDA") == nullptr) GTEST_SKIP() << "LIPSYNC_TEST_CUDA not set";
  for (const auto& [first, second] :
       {std::pair{"unet_tiny.onnx", "unet_tiny_other_weights.onnx"},
        std::pair{"unet_fp16.onnx", "unet_fp16.onnx"}}) {
    SessionOptions plain = options(false, ExecutionProvider::kCuda);
    plain.batch_sessions = {1};
    plain.cuda_nhwc = false;
    SessionOptions shared = plain;
    shared.share_architecture = true;
    auto own_a = open(first, plain);
    auto own_b = open(second, plain);
    auto a = open(first, shared);
    auto b = open(second, shared);
    ASSERT_TRUE(own_a && own_b && a && b);
    EXPECT_EQ(b->sharers(), 2);
    const float tolerance = a->element_type() == ElementType::kFloat16 ? 1e-2f : 1e-3f;
    for (int round = 0; round < 2; ++round) {
      for (int64_t batch : {1, 3}) {
        const auto image = random_values(batch * kImageValues, 50 + batch);
        const auto audio = random_values(batch * kAudioValues, 60 + batch);
        const auto want_a = run(*own_a, image, audio, batch);
        const auto want_b = run(*own_b, image, audio, batch);
        EXPECT_LE(worst_difference(run_staged(*a, image, audio, batch, want_a.size()), want_a),
                  tolerance) << first << " batch " << batch;
        EXPECT_LE(worst_difference(run_staged(*b, image, audio, batch, want_b.size()), want_b),
                  tolerance) << second << " batch " << batch;
        EXPECT_LE(worst_difference(run(*a, image, audio, batch), want_a), tolerance);
      }
    }
  }
}

// On the GPU: one model alone on shared sessions, the same batch again and again, then another
// size. Where MatchesSessionsOfTheirOwn fails, this tells whether weights given as inputs go
// wrong on their own (here) or only when two models take turns (there).
TEST(SharedSessionCuda, OneModelAloneMatchesItsOwnSessionsRunAfterRun) {
  if (std::getenv("LIPSYNC_TEST_CUDA") == nullptr) GTEST_SKIP() << "LIPSYNC_TEST_CUDA not set";
  SessionOptions plain = options(false, ExecutionProvider::kCuda);
  plain.batch_sessions = {1, 4};
  plain.cuda_nhwc = false;
  SessionOptions shared = plain;
  shared.share_architecture = true;
  auto own = open("unet_tiny.onnx", plain);
  auto alone = open("unet_tiny.onnx", shared);
  ASSERT_TRUE(own && alone);
  for (int64_t batch : {1, 1, 1, 4, 1}) {
    const auto image = random_values(batch * kImageValues, 70 + batch);
    const auto audio = random_values(batch * kAudioValues, 80 + batch);
    const auto want = run(*own, image, audio, batch);
    EXPECT_LE(worst_difference(run(*alone, image, audio, batch), want), 1e-3f)
        << "batch " << batch;
  }
}

}  // namespace
}  // namespace lipsync::runtime
