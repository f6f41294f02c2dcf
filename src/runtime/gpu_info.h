// What the server reports about its GPUs (compat Health gpu_ids / gpu_memory_used_gb): memory
// per CUDA device, read through NVML loaded at run time (dlopen "libnvidia-ml.so.1"), so the
// build has no CUDA dependency. Without NVML or a GPU nothing is reported, and why is logged once.
//
//   auto gpus = open_nvml_gpu_info();
//   for (const GpuMemory& m : gpus->memory(std::vector{0, 1})) LOG_INFO("x", "{}", m.used_bytes);
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace lipsync::runtime {

struct GpuMemory {
  int device_id = 0;  // CUDA ordinal
  std::string name;
  int64_t used_bytes = 0;
  int64_t total_bytes = 0;
};

class GpuInfo {
 public:
  virtual ~GpuInfo() = default;
  // The devices of `device_ids` (CUDA ordinals) whose memory could be read, in that order.
  virtual std::vector<GpuMemory> memory(std::span<const int> device_ids) const = 0;
  // Why nothing can be read; empty when the source is available.
  virtual const std::string& unavailable_reason() const = 0;
};

// NVML-backed. Never fails: when `library` cannot be loaded or NVML finds no GPU, memory() is
// empty and unavailable_reason() says why.
std::unique_ptr<GpuInfo> open_nvml_gpu_info(const std::string& library = "libnvidia-ml.so.1");

// How NVML finds CUDA ordinal `cuda_device`: its index, or a UUID (GPU-…, MIG-…) taken from
// CUDA_VISIBLE_DEVICES. NVML counts devices in PCI order; an unset CUDA_VISIBLE_DEVICES is read
// as CUDA numbering them the same way (true for one GPU model per host; set
// CUDA_DEVICE_ORDER=PCI_BUS_ID to make it hold everywhere).
struct NvmlDeviceRef {
  std::optional<unsigned> index;
  std::string uuid;  // when index is empty
};
Result<NvmlDeviceRef> nvml_device_for(int cuda_device,
                                      std::optional<std::string_view> cuda_visible_devices);

}  // namespace lipsync::runtime
