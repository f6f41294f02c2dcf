// GpuInfo: NVML through dlopen (a fake libnvidia-ml with two devices, a missing library, and the
// real one where the machine has it) and CUDA ordinal -> NVML device mapping.
#include "runtime/gpu_info.h"

#include <gtest/gtest.h>

#include <vector>

namespace lipsync::runtime {
namespace {

constexpr int64_t kGiB = int64_t{1} << 30;

TEST(GpuInfo, ReadsMemoryThroughNvml) {
  auto gpus = open_nvml_gpu_info(LIPSYNC_FAKE_NVML);
  EXPECT_EQ(gpus->unavailable_reason(), "");
  const std::vector<int> ids{1, 0, 5};  // 5 does not exist: left out
  const auto memory = gpus->memory(ids);
  ASSERT_EQ(memory.size(), 2u);
  EXPECT_EQ(memory[0].device_id, 1);
  EXPECT_EQ(memory[0].used_bytes, 2 * kGiB);
  EXPECT_EQ(memory[0].total_bytes, 80 * kGiB);
  EXPECT_EQ(memory[0].name, "Fake GPU 1");
  EXPECT_EQ(memory[1].device_id, 0);
  EXPECT_EQ(memory[1].used_bytes, 1 * kGiB);
}

TEST(GpuInfo, MissingLibraryReportsNothingAndSaysWhy) {
  auto gpus = open_nvml_gpu_info("/nonexistent/libnvidia-ml.so.1");
  EXPECT_NE(gpus->unavailable_reason().find("/nonexistent/libnvidia-ml.so.1"), std::string::npos)
      << gpus->unavailable_reason();
  const std::vector<int> ids{0};
  EXPECT_TRUE(gpus->memory(ids).empty());
}

TEST(GpuInfo, LibraryWithoutNvmlSymbolsIsUnavailable) {
  auto gpus = open_nvml_gpu_info("libc.so.6");
  EXPECT_NE(gpus->unavailable_reason().find("symbol"), std::string::npos)
      << gpus->unavailable_reason();
}

// The real NVML: on a GPU machine device 0 reads sensibly; elsewhere nothing is reported.
TEST(GpuInfo, SystemNvmlIsConsistent) {
  auto gpus = open_nvml_gpu_info();
  const std::vector<int> ids{0};
  const auto memory = gpus->memory(ids);
  if (!gpus->unavailable_reason().empty()) {
    EXPECT_TRUE(memory.empty());
    return;
  }
  ASSERT_EQ(memory.size(), 1u);
  EXPECT_GT(memory[0].total_bytes, 0);
  EXPECT_LE(memory[0].used_bytes, memory[0].total_bytes);
  EXPECT_FALSE(memory[0].name.empty());
}

TEST(NvmlDeviceFor, MapsCudaOrdinalsThroughCudaVisibleDevices) {
  auto plain = nvml_device_for(2, std::nullopt);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->index, 2u);

  auto listed = nvml_device_for(1, "3, 5");
  ASSERT_TRUE(listed.ok()) << listed.status().to_string();
  EXPECT_EQ(listed->index, 5u);

  auto uuid = nvml_device_for(0, "GPU-fake-1,0");
  ASSERT_TRUE(uuid.ok());
  EXPECT_FALSE(uuid->index.has_value());
  EXPECT_EQ(uuid->uuid, "GPU-fake-1");

  EXPECT_EQ(nvml_device_for(2, "0,1").status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(nvml_device_for(0, "x").status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(nvml_device_for(-1, std::nullopt).status().code(), ErrorCode::kInvalidArgument);
}

TEST(GpuInfo, UuidsOfCudaVisibleDevicesReachNvml) {
  ASSERT_EQ(setenv("CUDA_VISIBLE_DEVICES", "GPU-fake-1", 1), 0);
  auto gpus = open_nvml_gpu_info(LIPSYNC_FAKE_NVML);
  const std::vector<int> ids{0};
  const auto memory = gpus->memory(ids);
  unsetenv("CUDA_VISIBLE_DEVICES");
  ASSERT_EQ(memory.size(), 1u);
  EXPECT_EQ(memory[0].device_id, 0);
  EXPECT_EQ(memory[0].used_bytes, 2 * kGiB);  // NVML's device 1
}

}  // namespace
}  // namespace lipsync::runtime
