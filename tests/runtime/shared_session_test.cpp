// SessionOptions::share_architecture: models that differ only in their weights run on one set
// of ORT sessions, each with its own weights, and give what sessions of their own give.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <thread>
#include <tuple>

#include "runtime/model_split.h"
#include "runtime/onnx_graph.pb.h"
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
  auto session =
      Session::create(testing::test_models_dir() / file, o, unet_inputs(), unet_outputs());
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

// The NHWC form (model_split.h SplitLayout::kNhwc) on the CPU, where it cannot run: each kernel
// is its OIHW values in OHWI order, each bias a [1,C,1,1] input added after its Conv, which keeps
// a constant zero bias and its kernel_shape; models of one architecture still give equal graphs.
// Its outputs are checked on the GPU (SharedSessionCuda.MatchesSessionsOfTheirOwn).
TEST(ModelSplit, NhwcFormHasOhwiKernelsAndBiasesAddedAfterEachConv) {
  const auto file = testing::test_models_dir() / "unet_tiny.onnx";
  auto nchw = detail::split_model(file, detail::SplitLayout::kNchw);
  auto nhwc = detail::split_model(file, detail::SplitLayout::kNhwc);
  ASSERT_TRUE(nchw.ok() && nhwc.ok());
  ASSERT_FALSE(nhwc->graph.empty()) << nhwc->why_not;
  ASSERT_EQ(nhwc->weights.size(), nchw->weights.size());
  int kernels = 0, biases = 0;
  for (std::size_t i = 0; i < nchw->weights.size(); ++i) {
    const auto& from = nchw->weights[i];
    const auto& to = nhwc->weights[i];
    ASSERT_EQ(to.name, from.name);
    ASSERT_EQ(from.element_type, 1);  // float32: 4 bytes a value
    const auto value = [](const detail::Weight& w, int64_t at) {
      float v = 0;
      std::memcpy(&v, w.bytes.data() + at * 4, 4);
      return v;
    };
    if (from.dims.size() == 1) {
      ++biases;
      EXPECT_EQ(to.dims, (std::vector<int64_t>{1, from.dims[0], 1, 1})) << to.name;
      EXPECT_EQ(to.bytes, from.bytes) << to.name;
      continue;
    }
    ++kernels;
    ASSERT_EQ(from.dims.size(), 4u) << from.name;
    const int64_t o = from.dims[0], in = from.dims[1], h = from.dims[2], w = from.dims[3];
    ASSERT_EQ(to.dims, (std::vector<int64_t>{o, h, w, in})) << to.name;
    for (int64_t a = 0; a < o; ++a)
      for (int64_t c = 0; c < in; ++c)
        for (int64_t y = 0; y < h; ++y)
          for (int64_t x = 0; x < w; ++x)
            ASSERT_EQ(value(to, ((a * h + y) * w + x) * in + c),
                      value(from, ((a * in + c) * h + y) * w + x))
                << to.name;
  }
  EXPECT_GT(kernels, 0);
  EXPECT_GT(biases, 0);

  onnx::Model model;
  ASSERT_TRUE(model.ParseFromString(nhwc->graph));
  const auto& graph = model.graph();
  std::map<std::string, const onnx::Tensor*> constants;
  for (const auto& tensor : graph.initializer()) constants[tensor.name()] = &tensor;
  int convs = 0;
  for (int n = 0; n < graph.node_size(); ++n) {
    const auto& node = graph.node(n);
    if (node.op_type() != "Conv") continue;
    ++convs;
    bool kernel_shape = false;
    for (const auto& attribute : node.attribute())
      kernel_shape |= attribute.name() == "kernel_shape";
    EXPECT_TRUE(kernel_shape) << node.output(0);
    ASSERT_EQ(node.input_size(), 3) << node.output(0);
    const auto zero = constants.find(node.input(2));
    ASSERT_NE(zero, constants.end()) << "a Conv's bias is a constant: " << node.input(2);
    EXPECT_EQ(zero->second->raw_data(), std::string(zero->second->raw_data().size(), '\0'));
    ASSERT_LT(n + 1, graph.node_size());
    const auto& add = graph.node(n + 1);
    EXPECT_EQ(add.op_type(), "Add");
    ASSERT_EQ(add.input_size(), 2);
    EXPECT_EQ(add.input(0), node.output(0));
  }
  EXPECT_EQ(convs, biases);
  auto other = detail::split_model(testing::test_models_dir() / "unet_tiny_other_weights.onnx",
                                   detail::SplitLayout::kNhwc);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->graph, nhwc->graph) << "one architecture, one graph";
  EXPECT_NE(other->weights[0].bytes, nhwc->weights[0].bytes);
}

// On the GPU (LIPSYNC_TEST_CUDA=1): shared sessions with a session per batch size against
// plain ones, sizes alternating as an executor runs them: NCHW convolutions (unfused; float32 and
// float16) and the split's NHWC form (model_split.h) for float32. The float16 UNet in NHWC form
// has a test of its own (below): it rounds differently from the fused kernels of its own sessions.
TEST(SharedSessionCuda, MatchesSessionsOfTheirOwn) {
  if (std::getenv("LIPSYNC_TEST_CUDA") == nullptr) GTEST_SKIP() << "LIPSYNC_TEST_CUDA not set";
  for (const auto& [first, second, nhwc] :
       {std::tuple{"unet_tiny.onnx", "unet_tiny_other_weights.onnx", false},
        std::tuple{"unet_fp16.onnx", "unet_fp16.onnx", false},
        std::tuple{"unet_tiny.onnx", "unet_tiny_other_weights.onnx", true}}) {
    SCOPED_TRACE(nhwc ? "NHWC" : "NCHW");
    SessionOptions plain = options(false, ExecutionProvider::kCuda);
    plain.batch_sessions = {1};
    plain.cuda_nhwc = nhwc;
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
                  tolerance)
            << first << " batch " << batch;
        EXPECT_LE(worst_difference(run_staged(*b, image, audio, batch, want_b.size()), want_b),
                  tolerance)
            << second << " batch " << batch;
        EXPECT_LE(worst_difference(run(*a, image, audio, batch), want_a), tolerance);
      }
    }
  }
}

struct Error {
  float worst = 0.f;       // the largest absolute difference
  double relative_l2 = 0;  // |got - want| / |want|
};

Error error_against(std::span<const float> got, std::span<const float> want) {
  EXPECT_EQ(got.size(), want.size());
  Error e{.worst = worst_difference(got, want)};
  double diff = 0;
  double norm = 0;
  for (std::size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
    diff += (double(got[i]) - want[i]) * (double(got[i]) - want[i]);
    norm += double(want[i]) * want[i];
  }
  e.relative_l2 = norm > 0 ? std::sqrt(diff / norm) : 0;
  return e;
}

// On the GPU: the float16 UNet on NHWC shared sessions is as exact as on NHWC sessions of its
// own. Each convolution's float16 output is rounded before the model's bias is added (an Add
// node after it), where the fused kernels of its own sessions add the bias first, so the two
// float16 results differ from each other by about what each differs from the truth (up to ~3
// grey levels on these random inputs, H100, 2026-12-07). The truth is the same weights in
// float32 on the CPU (make_test_models.py: unet.onnx and unet_fp16.onnx share them): the shared
// form must be as close to it as the model's own sessions are.
TEST(SharedSessionCuda, NhwcFloat16IsAsCloseToTheFloat32ModelAsItsOwnSessions) {
  if (std::getenv("LIPSYNC_TEST_CUDA") == nullptr) GTEST_SKIP() << "LIPSYNC_TEST_CUDA not set";
  SessionOptions plain = options(false, ExecutionProvider::kCuda);
  plain.batch_sessions = {1, 3};
  plain.cuda_nhwc = true;
  SessionOptions shared = plain;
  shared.share_architecture = true;
  SessionOptions cpu = options(false);
  cpu.intra_op_threads = 0;  // every core: the full UNet in float32
  auto truth = open("unet.onnx", cpu);
  auto own = open("unet_fp16.onnx", plain);
  auto other = open("unet_fp16.onnx", shared);  // a second sharer: runs take turns
  auto split = open("unet_fp16.onnx", shared);
  ASSERT_TRUE(truth && own && other && split);
  EXPECT_EQ(split->sharers(), 2);
  for (int64_t batch : {1, 3, 1}) {
    const auto image = random_values(batch * kImageValues, 90 + batch);
    const auto audio = random_values(batch * kAudioValues, 95 + batch);
    const auto want = run(*truth, image, audio, batch);
    const Error own_error = error_against(run(*own, image, audio, batch), want);
    run(*other, image, audio, batch);
    const Error shared_error =
        error_against(run_staged(*split, image, audio, batch, want.size()), want);
    std::printf(
        "batch %lld against float32: own sessions worst %.4f rel. L2 %.3g; shared NHWC "
        "worst %.4f rel. L2 %.3g\n",
        static_cast<long long>(batch), own_error.worst, own_error.relative_l2, shared_error.worst,
        shared_error.relative_l2);
    EXPECT_LE(shared_error.relative_l2, 1.25 * own_error.relative_l2) << "batch " << batch;
    EXPECT_LE(shared_error.worst, 1.5f * own_error.worst) << "batch " << batch;
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
    EXPECT_LE(worst_difference(run(*alone, image, audio, batch), want), 1e-3f) << "batch " << batch;
  }
}

}  // namespace
}  // namespace lipsync::runtime
