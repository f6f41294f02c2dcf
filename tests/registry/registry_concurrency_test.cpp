// ModelRegistry under concurrency: one load shared by its waiters, other models not blocked by
// a slow load, and many threads loading/using/unloading/evicting (fake models + a tiny UNet).
#include <gtest/gtest.h>

#include <array>
#include <random>
#include <thread>

#include "fake_model.h"
#include "registry/model_registry.h"
#include "registry/session_model.h"
#include "support/test_paths.h"

namespace lipsync::registry {
namespace {

using testing::capacity;
using testing::FakeLoader;
using testing::FakeModel;
using testing::Gate;
using testing::model;

// A loader for "slow" that announces it started and then waits for `release`.
struct GatedLoader {
  Gate entered;
  Gate release;
  std::atomic<int> calls{0};
  bool fail_first = false;

  Loader loader() {
    return [this](const ModelConfig& config) -> Result<std::shared_ptr<LoadedModel>> {
      const int call = ++calls;
      entered.open();
      release.wait();
      if (fail_first && call == 1)
        return make_error(ErrorCode::kDataLoss, "first load of '{}' fails", config.model_id);
      return std::shared_ptr<LoadedModel>(std::make_shared<FakeModel>(config.model_id, 10));
    };
  }
};

void wait_until_waiting(const ModelRegistry& registry, const std::string& id, int count) {
  while (registry.info(id)->waiting_for_load < count) std::this_thread::yield();
}

TEST(RegistryConcurrency, WaitersShareOneLoadAndOtherModelsAreNotBlocked) {
  GatedLoader slow;
  FakeLoader fakes;
  ModelRegistry registry(capacity(4), fakes.loader());
  ASSERT_TRUE(registry.add_model(model("slow"), slow.loader()).ok());
  ASSERT_TRUE(registry.add_model(model("fast")).ok());

  constexpr int kAcquirers = 5;
  std::array<std::shared_ptr<LoadedModel>, kAcquirers> got;
  std::vector<std::thread> threads;
  threads.emplace_back([&] { got[0] = registry.acquire("slow")->shared(); });
  slow.entered.wait();
  EXPECT_EQ(registry.info("slow")->state, ModelState::kLoading);
  for (int i = 1; i < kAcquirers; ++i)
    threads.emplace_back([&, i] { got[i] = registry.acquire("slow")->shared(); });
  wait_until_waiting(registry, "slow", kAcquirers - 1);

  auto fast = registry.acquire("fast");  // while "slow" is still loading
  ASSERT_TRUE(fast.ok());
  EXPECT_EQ(registry.info("slow")->state, ModelState::kLoading);

  slow.release.open();
  for (auto& t : threads) t.join();
  EXPECT_EQ(slow.calls, 1);
  for (const auto& g : got) EXPECT_EQ(g, got[0]);
  EXPECT_NE(got[0], nullptr);
}

TEST(RegistryConcurrency, WaitersOfAFailedLoadGetItsReasonAndALaterAcquireRetries) {
  GatedLoader slow;
  slow.fail_first = true;
  ModelRegistry registry(capacity(4), slow.loader());
  ASSERT_TRUE(registry.add_model(model("slow")).ok());

  constexpr int kAcquirers = 4;
  std::array<Status, kAcquirers> results;
  std::vector<std::thread> threads;
  threads.emplace_back([&] { results[0] = registry.acquire("slow").status(); });
  slow.entered.wait();
  for (int i = 1; i < kAcquirers; ++i)
    threads.emplace_back([&, i] { results[i] = registry.acquire("slow").status(); });
  wait_until_waiting(registry, "slow", kAcquirers - 1);
  slow.release.open();
  for (auto& t : threads) t.join();

  EXPECT_EQ(slow.calls, 1);
  for (const auto& r : results) {
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.message().find("first load of 'slow' fails"), std::string::npos) << r.message();
  }
  EXPECT_EQ(registry.info("slow")->state, ModelState::kFailed);
  EXPECT_TRUE(registry.acquire("slow").ok());
  EXPECT_EQ(slow.calls, 2);
}

std::vector<float> run_tiny_unet(const ModelHandle& handle) {
  static const std::vector<float> image(6 * 320 * 320, 0.25f), audio(32 * 16 * 16, 0.5f);
  const std::array<std::span<const float>, 2> inputs{image, audio};
  auto out = handle.get<SessionModel>().session().run(inputs, 1);
  EXPECT_TRUE(out.ok()) << out.status().to_string();
  return out.ok() ? out->at(0) : std::vector<float>{};
}

TEST(RegistryConcurrency, ManyThreadsLoadUseUnloadAndEvict) {
  const int live_before = testing::live_fakes();
  constexpr int kMaxModels = 3;
  FakeLoader fakes;
  {
    ModelRegistry registry(capacity(kMaxModels), fakes.loader());
    const std::vector<std::string> ids{"m0", "m1", "m2", "m3", "m4", "m5"};
    for (const auto& id : ids) ASSERT_TRUE(registry.add_model(model(id)).ok());
    ModelConfig unet = model("unet");
    unet.model_path = ::lipsync::testing::test_models_dir() / "unet_tiny.onnx";
    runtime::SessionOptions options;
    options.intra_op_threads = 1;
    ASSERT_TRUE(registry
                    .add_model(unet, session_loader(options,
                                                    {{"input", {-1, 6, 320, 320}},
                                                     {"audio", {-1, 32, 16, 16}}},
                                                    {{"output", {-1, 3, 320, 320}}}))
                    .ok());
    auto reference_handle = registry.acquire("unet");
    ASSERT_TRUE(reference_handle.ok()) << reference_handle.status().to_string();
    const auto reference = run_tiny_unet(*reference_handle);

    std::atomic<int> failures{0};
    std::atomic<int> unet_runs{0};
    auto worker = [&](unsigned seed) {
      std::mt19937 rng(seed);
      for (int op = 0; op < 80; ++op) {
        const auto& id = ids[rng() % ids.size()];
        switch (rng() % 10) {
          case 0:
            failures += !registry.unload(id).ok();
            break;
          case 1:
            failures += !registry.load(id).ok();
            break;
          case 2: {
            auto handle = registry.acquire("unet");
            if (!handle.ok() || run_tiny_unet(*handle) != reference) ++failures;
            ++unet_runs;
            break;
          }
          default: {
            auto handle = registry.acquire(id);
            if (!handle.ok() || !handle->get<FakeModel>().alive() ||
                handle->get<FakeModel>().id() != id) {
              ++failures;
              break;
            }
            handle->record_inference(1, 0.5);
          }
        }
      }
    };
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < 6; ++t) threads.emplace_back(worker, 100 + t);
    for (auto& t : threads) t.join();

    EXPECT_EQ(failures, 0);
    EXPECT_GT(unet_runs, 0);
    EXPECT_LE(registry.ready_count(), kMaxModels);
    int64_t requests = 0;
    int64_t evictions = 0;
    for (const auto& info : registry.list()) {
      requests += info.stats.requests;
      evictions += info.stats.evictions;
    }
    EXPECT_GT(requests, 0);
    EXPECT_GT(evictions, 0);
    // The handle taken first still works, whatever happened to "unet" in the registry since.
    EXPECT_EQ(run_tiny_unet(*reference_handle), reference);
  }
  EXPECT_EQ(testing::live_fakes(), live_before);  // nothing leaked, nothing freed twice
}

}  // namespace
}  // namespace lipsync::registry
