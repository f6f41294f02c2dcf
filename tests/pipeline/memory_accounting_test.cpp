// capacity.max_memory_gb counts real memory: what the registry counts for models of the full
// UNet on the CPU (avatar caches, weights, each session's arena of activations) against how much
// the process's resident memory grew.
// Its own test binary: nothing else has grown this process's memory before it measures.
#include <gtest/gtest.h>
#include <malloc.h>

#include <fstream>
#include <string>

#include "audio/audio_features.h"
#include "pipeline/lipsync_model.h"
#include "pipeline/scheduler.h"
#include "runtime/session.h"
#include "support/synthetic_avatar.h"
#include "support/test_paths.h"

namespace lipsync::pipeline {
namespace {

// The process's resident memory now (VmRSS), in bytes; freed heap given back first.
std::int64_t resident_bytes() {
  malloc_trim(0);
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  }
  return -1;
}

RenderRequest frames(const std::string& model, int count) {
  RenderRequest r{.model_id = model};
  for (int i = 0; i < count; ++i) r.source_frames.push_back(i);
  r.audio.assign(static_cast<std::size_t>(count) * audio::kFrameTensorSize, 0.25f);
  return r;
}

// How far the count may be from the growth of resident memory (see the test's measure).
constexpr double kCountedAtLeast = 0.7;
constexpr double kCountedAtMost = 1.1;
constexpr int kBatch = 4;  // kCpuDefaultMaxBatch

TEST(MemoryAccounting, CountsWhatFullUNetModelsTakeOnTheCpu) {
  const auto dir = testing::temp_dir();
  testing::write_synthetic_avatar(dir, 6);
  Config config = testing::synthetic_config(dir, {"a", "b"});
  for (auto& [id, model] : config.models)
    model.model_path = testing::test_models_dir() / "unet.onnx";
  {
    // The runtime's libraries and environment are paged in before the measure starts.
    auto tiny = runtime::Session::create(testing::test_models_dir() / "unet_tiny.onnx", {},
                                         unet_inputs({}), unet_outputs({}));
    ASSERT_TRUE(tiny.ok()) << tiny.status().to_string();
  }
  const std::int64_t before = resident_bytes();
  registry::ModelRegistry registry(
      config.capacity, lipsync_model_loader({.session = {.intra_op_threads = 2},
                                             .warm_up_batch_sizes = {1, 2, 3, kBatch}}));
  ASSERT_TRUE(registry.add_models(config).ok());
  {
    Scheduler scheduler(registry, {.max_batch = kBatch, .max_queue_delay_ms = 0}, nullptr);
    for (const char* model : {"a", "a", "b", "b"}) {
      auto result = scheduler.submit(frames(model, kBatch)).get();
      ASSERT_TRUE(result.ok()) << result.status().to_string();
    }
  }
  const std::int64_t grown = resident_bytes() - before;
  const std::int64_t counted = registry.resident_memory_bytes();
  RecordProperty("resident_growth_bytes", std::to_string(grown));
  RecordProperty("counted_bytes", std::to_string(counted));
  // Measured on the dev box: 2 x 1.39 GB grown, 2 x 1.12 GB counted (the arena 1.07 GB, the file
  // 0.05 GB): about 0.26 GB a model that runs take is not attributed yet.
  EXPECT_GE(static_cast<double>(counted), kCountedAtLeast * static_cast<double>(grown))
      << "counted " << counted / (1 << 20) << " MiB, resident memory grew " << grown / (1 << 20)
      << " MiB";
  EXPECT_LE(static_cast<double>(counted), kCountedAtMost * static_cast<double>(grown))
      << "counted " << counted / (1 << 20) << " MiB, resident memory grew " << grown / (1 << 20)
      << " MiB";
  // The runs' memory is most of it: a count of files and avatars alone would be far off.
  auto info = registry.info("a");
  ASSERT_TRUE(info.ok());
  const auto file_bytes =
      static_cast<std::int64_t>(std::filesystem::file_size(config.models.at("a").model_path));
  EXPECT_GT(info->stats.memory_bytes, 4 * file_bytes);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace lipsync::pipeline
