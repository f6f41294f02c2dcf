// ModelRegistry: states, lazy load, LRU eviction by count and memory, handles outliving
// eviction, failure and retry (real tiny-UNet loader), statistics, preload, idle unload.
#include "registry/model_registry.h"

#include <gtest/gtest.h>

#include <array>
#include <filesystem>
#include <fstream>

#include "fake_model.h"
#include "registry/session_model.h"
#include "support/test_paths.h"

namespace lipsync::registry {
namespace {

using testing::capacity;
using testing::FakeLoader;
using testing::FakeModel;
using testing::model;

ModelState state_of(const ModelRegistry& registry, const std::string& id) {
  auto info = registry.info(id);
  EXPECT_TRUE(info.ok()) << info.status().to_string();
  return info.ok() ? info->state : ModelState::kFailed;
}

TEST(ModelRegistry, LoadsLazilyOnFirstAcquireOnly) {
  FakeLoader fakes;
  ModelRegistry registry(capacity(4), fakes.loader());
  ASSERT_TRUE(registry.add_model(model("a")).ok());
  EXPECT_EQ(state_of(registry, "a"), ModelState::kUnloaded);
  EXPECT_EQ(fakes.calls("a"), 0);
  auto first = registry.acquire("a");
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  auto second = registry.acquire("a");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(fakes.calls("a"), 1);
  EXPECT_EQ(first->shared(), second->shared());
  EXPECT_EQ(first->get<FakeModel>().id(), "a");
  EXPECT_EQ(state_of(registry, "a"), ModelState::kReady);
}

TEST(ModelRegistry, UnknownAndDuplicateModels) {
  FakeLoader fakes;
  ModelRegistry registry(capacity(4), fakes.loader());
  ASSERT_TRUE(registry.add_model(model("a")).ok());
  EXPECT_EQ(registry.add_model(model("a")).code(), ErrorCode::kAlreadyExists);
  auto missing = registry.acquire("nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(missing.status().message().find("'nope'"), std::string::npos);
  EXPECT_EQ(registry.unload("nope").code(), ErrorCode::kNotFound);
}

// An unknown id's error lists the configured ids, at most ten of them.
TEST(ModelRegistry, UnknownModelErrorListsTheConfiguredOnes) {
  FakeLoader fakes;
  ModelRegistry empty(capacity(4), fakes.loader());
  EXPECT_NE(empty.acquire("x").status().message().find("no model is"), std::string::npos);

  ModelRegistry registry(capacity(4), fakes.loader());
  for (int i = 0; i < 12; ++i)
    ASSERT_TRUE(registry.add_model(model(fmt::format("m{:02}", i))).ok());
  const std::string message = registry.acquire("bob").status().message();
  EXPECT_NE(message.find("model 'bob' is not configured: use one of 'm00', 'm01', "),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("'m09' and 2 more"), std::string::npos) << message;
  EXPECT_EQ(message.find("'m10'"), std::string::npos) << message;
}

TEST(ModelRegistry, EvictsLeastRecentlyUsedBeyondMaxModels) {
  FakeLoader fakes;
  ModelRegistry registry(capacity(2), fakes.loader());
  for (const char* id : {"a", "b", "c"}) ASSERT_TRUE(registry.add_model(model(id)).ok());
  ASSERT_TRUE(registry.load("a").ok());
  ASSERT_TRUE(registry.load("b").ok());
  ASSERT_TRUE(registry.acquire("a").ok());  // a is now more recent than b
  ASSERT_TRUE(registry.load("c").ok());
  EXPECT_EQ(state_of(registry, "a"), ModelState::kReady);
  EXPECT_EQ(state_of(registry, "b"), ModelState::kUnloaded);
  EXPECT_EQ(state_of(registry, "c"), ModelState::kReady);
  EXPECT_EQ(registry.info("b")->stats.evictions, 1);
  ASSERT_TRUE(registry.load("b").ok());  // now a is the least recent
  EXPECT_EQ(state_of(registry, "a"), ModelState::kUnloaded);
  EXPECT_EQ(registry.ready_count(), 2);
  EXPECT_EQ(fakes.calls("b"), 2);
}

TEST(ModelRegistry, EvictsToStayWithinTheMemoryBudget) {
  const double gb_of_1000_bytes = 1000.0 / (1024.0 * 1024.0 * 1024.0);
  FakeLoader fakes({{"a", 400}, {"b", 400}, {"c", 300}, {"huge", 5000}});
  ModelRegistry registry(capacity(10, gb_of_1000_bytes), fakes.loader());
  for (const char* id : {"a", "b", "c", "huge"}) ASSERT_TRUE(registry.add_model(model(id)).ok());
  ASSERT_TRUE(registry.load("a").ok());
  ASSERT_TRUE(registry.load("b").ok());
  EXPECT_EQ(registry.resident_memory_bytes(), 800);
  ASSERT_TRUE(registry.load("c").ok());  // 1100 > 1000: a (least recent) goes
  EXPECT_EQ(state_of(registry, "a"), ModelState::kUnloaded);
  EXPECT_EQ(registry.resident_memory_bytes(), 700);

  auto huge = registry.acquire("huge");
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), ErrorCode::kResourceExhausted);
  EXPECT_EQ(state_of(registry, "huge"), ModelState::kFailed);
  EXPECT_NE(registry.info("huge")->failure_reason.find("5000 bytes"), std::string::npos);
  EXPECT_EQ(registry.resident_memory_bytes(), 700);  // nothing else was evicted for it
}

TEST(ModelRegistry, ModelInUseSurvivesEvictionUntilReleased) {
  FakeLoader fakes;
  ModelRegistry registry(capacity(1), fakes.loader());
  ASSERT_TRUE(registry.add_model(model("a")).ok());
  ASSERT_TRUE(registry.add_model(model("b")).ok());
  const int live_before = testing::live_fakes();
  auto a = registry.acquire("a");
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(registry.load("b").ok());  // evicts a from the registry
  EXPECT_EQ(state_of(registry, "a"), ModelState::kUnloaded);
  EXPECT_TRUE(a->get<FakeModel>().alive());
  EXPECT_EQ(testing::live_fakes(), live_before + 2);
  ASSERT_TRUE(registry.unload("b").ok());
  EXPECT_EQ(testing::live_fakes(), live_before + 1);  // b had no user: freed at once
  { auto released = std::move(a).value(); }
  EXPECT_EQ(testing::live_fakes(), live_before);
}

std::vector<runtime::TensorSpec> unet_inputs() {
  return {{"input", {-1, 6, 320, 320}}, {"audio", {-1, 32, 16, 16}}};
}
std::vector<runtime::TensorSpec> unet_outputs() {
  return {{"output", {-1, 3, 320, 320}}};
}

Loader tiny_unet_loader() {
  runtime::SessionOptions options;
  options.intra_op_threads = 1;
  return session_loader(options, unet_inputs(), unet_outputs());
}

TEST(ModelRegistry, FailedLoadKeepsTheReasonAndALaterAcquireRetries) {
  const auto path = ::lipsync::testing::temp_dir() / "unet.onnx";
  std::ofstream(path) << "not an onnx file";
  ModelConfig config = model("tiny");
  config.model_path = path;
  ModelRegistry registry(capacity(4), tiny_unet_loader());
  ASSERT_TRUE(registry.add_model(config).ok());

  auto failed = registry.acquire("tiny");
  ASSERT_FALSE(failed.ok());
  // The server's problem, not the request's: FAILED_PRECONDITION, naming the model once, the
  // file, and what to do.
  const std::string message = failed.status().message();
  EXPECT_EQ(failed.status().code(), ErrorCode::kFailedPrecondition);
  EXPECT_TRUE(message.starts_with("model 'tiny' cannot be loaded: ")) << message;
  EXPECT_EQ(message.find("model 'tiny'", 1), std::string::npos) << message;
  EXPECT_NE(message.find(path.string()), std::string::npos) << message;
  EXPECT_NE(message.find("lipsync config check"), std::string::npos) << message;
  auto info = registry.info("tiny");
  EXPECT_EQ(info->state, ModelState::kFailed);
  EXPECT_NE(info->failure_reason.find(path.string()), std::string::npos);

  std::filesystem::copy_file(::lipsync::testing::test_models_dir() / "unet_tiny.onnx", path,
                             std::filesystem::copy_options::overwrite_existing);
  auto retried = registry.acquire("tiny");
  ASSERT_TRUE(retried.ok()) << retried.status().to_string();
  EXPECT_EQ(state_of(registry, "tiny"), ModelState::kReady);
  EXPECT_TRUE(registry.info("tiny")->failure_reason.empty());
  EXPECT_EQ(registry.info("tiny")->stats.memory_bytes,
            static_cast<int64_t>(std::filesystem::file_size(path)));

  std::vector<float> image(6 * 320 * 320, 0.5f), audio(32 * 16 * 16, 0.5f);
  const std::array<std::span<const float>, 2> inputs{image, audio};
  auto out = retried->get<SessionModel>().session().run(inputs, 1);
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_EQ(out->at(0).size(), 3u * 320u * 320u);
}

TEST(ModelRegistry, StatisticsAreRecorded) {
  int64_t now = 1'700'000'000;
  FakeLoader fakes({{"a", 1234}});
  ModelRegistry registry(capacity(4), fakes.loader(), [&] { return now; });
  ASSERT_TRUE(registry.add_model(model("a")).ok());
  auto a = registry.acquire("a");
  ASSERT_TRUE(a.ok());
  now += 10;
  a->record_inference(25, 20.0);
  a->record_inference(5, 10.0);
  const auto stats = registry.info("a")->stats;
  EXPECT_EQ(stats.requests, 2);
  EXPECT_EQ(stats.frames, 30);
  EXPECT_DOUBLE_EQ(stats.total_inference_ms, 30.0);
  EXPECT_DOUBLE_EQ(stats.mean_inference_ms, 15.0);
  EXPECT_EQ(stats.last_used_unix_s, 1'700'000'010);
  EXPECT_EQ(stats.memory_bytes, 1234);
  EXPECT_GE(stats.load_time_ms, 0.0);
  EXPECT_EQ(stats.loads, 1);
}

TEST(ModelRegistry, PreloadLoadsMarkedModelsAndReportsFailures) {
  FakeLoader fakes;
  ModelRegistry registry(capacity(4), fakes.loader());
  ASSERT_TRUE(registry.add_model(model("a", true)).ok());
  ASSERT_TRUE(registry.add_model(model("b", false)).ok());
  ASSERT_TRUE(registry
                  .add_model(model("bad", true),
                             [](const ModelConfig&) -> Result<std::shared_ptr<LoadedModel>> {
                               return make_error(ErrorCode::kDataLoss, "weights are corrupt");
                             })
                  .ok());
  const Status status = registry.preload();
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("'bad'"), std::string::npos);
  EXPECT_NE(status.message().find("weights are corrupt"), std::string::npos);
  const auto infos = registry.list();
  ASSERT_EQ(infos.size(), 3u);
  EXPECT_EQ(infos[0].model_id, "a");
  EXPECT_EQ(infos[0].state, ModelState::kReady);
  EXPECT_EQ(infos[1].state, ModelState::kUnloaded);
  EXPECT_EQ(infos[2].state, ModelState::kFailed);
  EXPECT_EQ(infos[2].failure_reason, "weights are corrupt");
}

TEST(ModelRegistry, ExplicitAndIdleUnload) {
  int64_t now = 1000;
  FakeLoader fakes;
  CapacitySection cap = capacity(4);
  cap.idle_timeout_minutes = 1;
  ModelRegistry registry(cap, fakes.loader(), [&] { return now; });
  for (const char* id : {"a", "b", "c"}) ASSERT_TRUE(registry.add_model(model(id)).ok());
  for (const char* id : {"a", "b", "c"}) ASSERT_TRUE(registry.load(id).ok());
  ASSERT_TRUE(registry.unload("c").ok());
  EXPECT_EQ(state_of(registry, "c"), ModelState::kUnloaded);
  EXPECT_TRUE(registry.unload("c").ok());  // no-op
  now += 30;
  ASSERT_TRUE(registry.acquire("b").ok());
  now += 40;  // a idle 70 s, b idle 40 s
  EXPECT_EQ(registry.unload_idle(), 1);
  EXPECT_EQ(state_of(registry, "a"), ModelState::kUnloaded);
  EXPECT_EQ(state_of(registry, "b"), ModelState::kReady);
}

TEST(ModelRegistry, LoaderThatThrowsEndsInFailed) {
  ModelRegistry registry(capacity(4),
                         [](const ModelConfig&) -> Result<std::shared_ptr<LoadedModel>> {
                           throw std::runtime_error("boom");
                         });
  ASSERT_TRUE(registry.add_model(model("a")).ok());
  EXPECT_FALSE(registry.acquire("a").ok());
  EXPECT_EQ(state_of(registry, "a"), ModelState::kFailed);
  EXPECT_NE(registry.info("a")->failure_reason.find("boom"), std::string::npos);
}

}  // namespace
}  // namespace lipsync::registry
