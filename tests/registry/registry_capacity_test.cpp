// ModelRegistry capacity policies: draining memory (evicted or unloaded models still in use count
// against max_memory_gb; loads wait for them or are refused), LRU/LFU eviction, idle unloading by
// the background sweeper, and GPU placement (preferred_gpu, round-robin, least-loaded).
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "fake_model.h"
#include "registry/model_registry.h"

namespace lipsync::registry {
namespace {

using testing::capacity;
using testing::eventually;
using testing::FakeLoader;
using testing::FakeModel;
using testing::gb;
using testing::model;

ModelInfo info_of(const ModelRegistry& registry, const std::string& id) {
  auto info = registry.info(id);
  EXPECT_TRUE(info.ok()) << info.status().to_string();
  return info.ok() ? *info : ModelInfo{};
}

void add(ModelRegistry& registry, std::initializer_list<const char*> ids) {
  for (const char* id : ids) ASSERT_TRUE(registry.add_model(model(id)).ok());
}

TEST(RegistryDraining, EvictedModelInUseCountsUntilReleased) {
  FakeLoader fakes({{"a", 600}, {"b", 300}, {"c", 300}});
  CapacitySection cap = capacity(1, gb(1000));
  cap.drain_wait_ms = 0;  // refuse at once
  ModelRegistry registry(cap, fakes.loader());
  add(registry, {"a", "b", "c"});

  auto a = registry.acquire("a");
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(registry.load("b").ok());  // max_models 1: a is evicted but still in use
  EXPECT_EQ(info_of(registry, "a").state, ModelState::kUnloaded);
  EXPECT_EQ(info_of(registry, "a").stats.draining_bytes, 600);
  EXPECT_EQ(registry.draining_memory_bytes(), 600);
  EXPECT_EQ(registry.resident_memory_bytes(), 300);
  ASSERT_TRUE(registry.load("c").ok());  // b (idle) goes: 300 resident + 600 draining fit

  // A second instance of a does not fit next to the draining first one: refused.
  const Status refused = registry.load("a");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.code(), ErrorCode::kResourceExhausted);
  EXPECT_NE(refused.message().find("still in use"), std::string::npos) << refused.message();
  EXPECT_EQ(info_of(registry, "a").state, ModelState::kFailed);
  EXPECT_TRUE(a->get<FakeModel>().alive());

  { auto released = std::move(a).value(); }
  EXPECT_EQ(registry.draining_memory_bytes(), 0);
  EXPECT_EQ(info_of(registry, "a").stats.draining_bytes, 0);
  ASSERT_TRUE(registry.load("a").ok());  // the retry fits now
  EXPECT_EQ(registry.resident_memory_bytes(), 600);
}

TEST(RegistryDraining, LoadWaitsForTheDrainingModelToBeReleased) {
  FakeLoader fakes({{"a", 600}, {"b", 600}});
  CapacitySection cap = capacity(4, gb(1000));
  cap.drain_wait_ms = 600'000;  // the test releases long before
  ModelRegistry registry(cap, fakes.loader());
  add(registry, {"a", "b"});
  auto a = registry.acquire("a");
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(registry.unload("a").ok());  // in use: drains
  EXPECT_EQ(registry.draining_memory_bytes(), 600);

  Status loaded = make_error(ErrorCode::kInternal, "not run");
  std::thread loader([&] { loaded = registry.load("b"); });
  ASSERT_TRUE(eventually([&] { return info_of(registry, "b").waiting_for_memory; }));
  EXPECT_EQ(info_of(registry, "b").state, ModelState::kLoading);
  { auto released = std::move(a).value(); }
  loader.join();
  EXPECT_TRUE(loaded.ok()) << loaded.to_string();
  EXPECT_EQ(info_of(registry, "b").state, ModelState::kReady);
  EXPECT_FALSE(info_of(registry, "b").waiting_for_memory);
  EXPECT_EQ(registry.draining_memory_bytes(), 0);
}

TEST(RegistryDraining, IdleModelsAreEvictedBeforeModelsInUse) {
  FakeLoader fakes({{"a", 400}, {"b", 400}, {"c", 300}});
  ModelRegistry registry(capacity(10, gb(1000)), fakes.loader());
  add(registry, {"a", "b", "c"});
  auto a = registry.acquire("a");  // least recently used, but in use
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(registry.load("b").ok());
  ASSERT_TRUE(registry.load("c").ok());  // 1100 > 1000: b goes, as evicting a frees nothing now
  EXPECT_EQ(info_of(registry, "a").state, ModelState::kReady);
  EXPECT_EQ(info_of(registry, "b").state, ModelState::kUnloaded);
  EXPECT_EQ(registry.draining_memory_bytes(), 0);
}

// A reload's size is known: room is made before the loader runs, not after.
TEST(RegistryDraining, ReloadMakesRoomBeforeLoading) {
  FakeLoader fakes({{"a", 600}, {"b", 600}});
  ModelRegistry* registry_seen = nullptr;
  std::vector<ModelState> b_state_at_a_loads;
  Loader inner = fakes.loader();
  auto watching = [&](const ModelConfig& config,
                      const LoadTarget& target) -> Result<std::shared_ptr<LoadedModel>> {
    if (config.model_id == "a") b_state_at_a_loads.push_back(info_of(*registry_seen, "b").state);
    return inner(config, target);
  };
  ModelRegistry registry(capacity(10, gb(1000)), watching);
  registry_seen = &registry;
  add(registry, {"a", "b"});
  ASSERT_TRUE(registry.load("a").ok());
  ASSERT_TRUE(registry.load("b").ok());  // a first load: a is evicted once b's size is known
  EXPECT_EQ(info_of(registry, "a").state, ModelState::kUnloaded);
  ASSERT_TRUE(registry.load("a").ok());
  ASSERT_EQ(b_state_at_a_loads.size(), 2u);
  EXPECT_EQ(b_state_at_a_loads[0], ModelState::kUnloaded);  // never loaded yet
  EXPECT_EQ(b_state_at_a_loads[1], ModelState::kUnloaded);  // evicted before the reload ran
  EXPECT_EQ(info_of(registry, "b").stats.evictions, 1);
  EXPECT_EQ(registry.resident_memory_bytes(), 600);
}

class EvictionPolicyTest : public ::testing::TestWithParam<EvictionPolicy> {};

TEST_P(EvictionPolicyTest, EvictsByRecencyOrByUseCount) {
  FakeLoader fakes;
  CapacitySection cap = capacity(2);
  cap.eviction_policy = GetParam();
  ModelRegistry registry(cap, fakes.loader());
  add(registry, {"a", "b", "c"});
  ASSERT_TRUE(registry.load("a").ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(registry.acquire("a").ok());
  ASSERT_TRUE(registry.load("b").ok());  // b: 1 use, the most recent
  EXPECT_EQ(info_of(registry, "a").stats.uses, 4);
  EXPECT_EQ(info_of(registry, "b").stats.uses, 1);
  ASSERT_TRUE(registry.load("c").ok());
  const bool lfu = GetParam() == EvictionPolicy::kLfu;
  EXPECT_EQ(info_of(registry, "a").state, lfu ? ModelState::kReady : ModelState::kUnloaded);
  EXPECT_EQ(info_of(registry, "b").state, lfu ? ModelState::kUnloaded : ModelState::kReady);
}

INSTANTIATE_TEST_SUITE_P(Policies, EvictionPolicyTest,
                         ::testing::Values(EvictionPolicy::kLru, EvictionPolicy::kLfu));

TEST(RegistryIdle, UnloadIdleNeverUnloadsAModelInUse) {
  std::atomic<int64_t> now{1000};
  FakeLoader fakes;
  CapacitySection cap = capacity(4);
  cap.idle_timeout_minutes = 1;
  ModelRegistry registry(cap, fakes.loader(), [&] { return now.load(); });
  add(registry, {"a", "b"});
  ASSERT_TRUE(registry.load("a").ok());
  auto b = registry.acquire("b");
  ASSERT_TRUE(b.ok());
  now += 120;
  EXPECT_EQ(registry.unload_idle(), 1);
  EXPECT_EQ(info_of(registry, "a").state, ModelState::kUnloaded);
  EXPECT_EQ(info_of(registry, "b").state, ModelState::kReady);
  EXPECT_EQ(registry.draining_memory_bytes(), 0);
}

TEST(RegistryIdle, SweeperUnloadsIdleModelsInTheBackground) {
  std::atomic<int64_t> now{1000};
  FakeLoader fakes;
  CapacitySection cap = capacity(4);
  cap.idle_timeout_minutes = 2;
  ModelRegistry registry(cap, fakes.loader(), [&] { return now.load(); });
  add(registry, {"a", "b"});
  ASSERT_TRUE(registry.load("a").ok());
  registry.start_idle_sweeper(std::chrono::milliseconds(1));
  now += 60;
  ASSERT_TRUE(registry.load("b").ok());
  now += 61;  // a idle 121 s, b 61 s
  ASSERT_TRUE(eventually([&] { return info_of(registry, "a").state == ModelState::kUnloaded; }));
  EXPECT_EQ(info_of(registry, "b").state, ModelState::kReady);
}

TEST(RegistryIdle, SweeperIsOffWithoutATimeout) {
  FakeLoader fakes;
  ModelRegistry registry(capacity(4), fakes.loader());
  add(registry, {"a"});
  registry.start_idle_sweeper(std::chrono::milliseconds(1));
  ASSERT_TRUE(registry.load("a").ok());
  EXPECT_EQ(registry.unload_idle(), 0);
  EXPECT_EQ(info_of(registry, "a").state, ModelState::kReady);
}

TEST(GpuPlacement, FromConfig) {
  Config config;
  EXPECT_TRUE(gpu_placement_from(config).devices.empty());  // CPU
  config.gpus.count = 2;
  EXPECT_TRUE(gpu_placement_from(config).devices.empty());  // still CPU: gpus ignored
  config.runtime.execution_provider = ExecutionProvider::kCuda;
  EXPECT_EQ(gpu_placement_from(config).devices, (std::vector<int>{0, 1}));
  config.gpus.count = 0;
  config.runtime.device_id = 3;
  EXPECT_EQ(gpu_placement_from(config).devices, (std::vector<int>{3}));
}

TEST(GpuPlacement, RoundRobinPreferredAndExplicit) {
  FakeLoader fakes;
  ModelRegistry registry(capacity(10), fakes.loader(), {}, {{0, 1, 2}, GpuAssignment::kRoundRobin});
  add(registry, {"a", "b", "c", "d"});
  ModelConfig pinned = model("pinned");
  pinned.preferred_gpu = 2;
  ASSERT_TRUE(registry.add_model(pinned).ok());

  auto a = registry.acquire("a");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->gpu_id(), 0);
  ASSERT_TRUE(registry.load("b").ok());
  ASSERT_TRUE(registry.load("pinned").ok());  // its preferred_gpu: does not advance the turn
  ASSERT_TRUE(registry.load("c").ok());
  EXPECT_EQ(fakes.gpu("a"), 0);
  EXPECT_EQ(fakes.gpu("b"), 1);
  EXPECT_EQ(fakes.gpu("pinned"), 2);
  EXPECT_EQ(fakes.gpu("c"), 2);
  EXPECT_EQ(info_of(registry, "b").gpu_id, 1);

  ASSERT_TRUE(registry.load("d", 1).ok());  // a request's preferred_gpu
  EXPECT_EQ(info_of(registry, "d").gpu_id, 1);
  ASSERT_TRUE(registry.unload("d").ok());
  EXPECT_EQ(info_of(registry, "d").gpu_id, -1);
  ASSERT_TRUE(registry.load("d", -1).ok());  // -1: automatic
  EXPECT_EQ(info_of(registry, "d").gpu_id, 0);

  ASSERT_TRUE(registry.unload("d").ok());
  const Status bad = registry.load("d", 7);
  EXPECT_EQ(bad.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("preferred_gpu 7"), std::string::npos) << bad.message();
  EXPECT_EQ(info_of(registry, "d").state, ModelState::kUnloaded);
}

TEST(GpuPlacement, LeastLoadedCountsResidentAndDrainingModels) {
  FakeLoader fakes;
  ModelRegistry registry(capacity(10), fakes.loader(), {}, {{0, 1}, GpuAssignment::kLeastLoaded});
  add(registry, {"a", "b", "c", "d"});
  auto a = registry.acquire("a");
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(registry.load("b").ok());
  EXPECT_EQ(fakes.gpu("a"), 0);
  EXPECT_EQ(fakes.gpu("b"), 1);
  ASSERT_TRUE(registry.unload("b").ok());  // GPU 1 is free again
  ASSERT_TRUE(registry.load("c").ok());
  EXPECT_EQ(fakes.gpu("c"), 1);
  ASSERT_TRUE(registry.unload("a").ok());  // a still in use: it drains on GPU 0
  ASSERT_TRUE(registry.load("d").ok());    // 1 model on each: the lower id
  EXPECT_EQ(fakes.gpu("d"), 0);
}

TEST(GpuPlacement, CpuModelsGetNoDevice) {
  FakeLoader fakes;
  ModelRegistry registry(capacity(10), fakes.loader());
  ModelConfig pinned = model("a");
  pinned.preferred_gpu = 1;
  ASSERT_TRUE(registry.add_model(pinned).ok());
  ASSERT_TRUE(registry.load("a", 3).ok());  // ignored on the CPU
  EXPECT_EQ(fakes.gpu("a"), -1);
  EXPECT_EQ(info_of(registry, "a").gpu_id, -1);
}

// Many threads acquire, hold and release models under a memory budget that forces evictions of
// models in use: resident + draining memory never exceeds the budget (checked in one snapshot),
// every load eventually fits, and nothing leaks.
TEST(RegistryDraining, ConcurrentUseNeverExceedsTheBudget) {
  const int live_before = testing::live_fakes();
  {
    FakeLoader fakes({{"m0", 300}, {"m1", 400}, {"m2", 300}, {"m3", 500}, {"m4", 200}});
    CapacitySection cap = capacity(3, gb(1000));
    cap.drain_wait_ms = 600'000;
    cap.eviction_policy = EvictionPolicy::kLfu;
    ModelRegistry registry(cap, fakes.loader(), {}, {{0, 1}, GpuAssignment::kLeastLoaded});
    const std::vector<std::string> ids{"m0", "m1", "m2", "m3", "m4"};
    for (const auto& id : ids) ASSERT_TRUE(registry.add_model(model(id)).ok());

    std::atomic<bool> done{false};
    std::atomic<int> over_budget{0};
    std::thread monitor([&] {
      while (!done) {
        int64_t total = 0;
        for (const auto& info : registry.list()) {
          total += info.stats.memory_bytes + info.stats.draining_bytes;
        }
        over_budget += total > 1000;
      }
    });
    std::atomic<int> failures{0};
    auto worker = [&](unsigned seed) {
      std::mt19937 rng(seed);
      for (int op = 0; op < 150; ++op) {
        const auto& id = ids[rng() % ids.size()];
        if (rng() % 8 == 0) {
          failures += !registry.unload(id).ok();
          continue;
        }
        auto handle = registry.acquire(id);  // no handle is held while acquiring
        if (!handle.ok() || !handle->get<FakeModel>().alive() ||
            handle->get<FakeModel>().id() != id || handle->gpu_id() < 0) {
          ++failures;
          continue;
        }
        handle->record_inference(1, 0.1);
      }
    };
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < 6; ++t) threads.emplace_back(worker, 7 + t);
    for (auto& t : threads) t.join();
    done = true;
    monitor.join();

    EXPECT_EQ(failures, 0);
    EXPECT_EQ(over_budget, 0);
    EXPECT_EQ(registry.draining_memory_bytes(), 0);
    EXPECT_LE(registry.resident_memory_bytes(), 1000);
    EXPECT_LE(registry.ready_count(), 3);
  }
  EXPECT_EQ(testing::live_fakes(), live_before);
}

}  // namespace
}  // namespace lipsync::registry
