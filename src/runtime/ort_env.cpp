#include "runtime/ort_env.h"

#include <dlfcn.h>

#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "core/log.h"
#include "runtime/ort_error.h"

namespace lipsync::runtime::detail {
namespace {

constexpr const char* kCudaEpName = "CUDAExecutionProvider";
constexpr const char* kCudaEpLibrary = "libonnxruntime_providers_cuda.so";

void log_from_ort(void*, OrtLoggingLevel severity, const char* category, const char*,
                  const char* code_location, const char* message) {
  const auto level = severity >= ORT_LOGGING_LEVEL_ERROR     ? log::Level::kError
                     : severity >= ORT_LOGGING_LEVEL_WARNING ? log::Level::kWarn
                                                             : log::Level::kDebug;
  LIPSYNC_LOG(level, "ort", "{} ({}, {})", message, category, code_location);
}

struct CudaRegistry {
  std::mutex mutex;
  std::set<std::string> registered;  // library paths
};

CudaRegistry& cuda_registry() {
  static CudaRegistry registry;
  return registry;
}

Status register_cuda_library(const std::filesystem::path& library) {
  auto& registry = cuda_registry();
  std::lock_guard lock(registry.mutex);
  if (registry.registered.count(library.string()) > 0) return {};
  if (!std::filesystem::exists(library)) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "CUDA requested but the CUDA execution provider library '{}' does not exist "
                      "(run scripts/setup.sh --cuda, or set onnx.cuda_ep_library in the server's "
                      "configuration)",
                      library.string());
  }
  RETURN_IF_ERROR(ort_guard(
      ErrorCode::kFailedPrecondition,
      [&] {
        return fmt::format(
            "CUDA requested but the CUDA execution provider library '{}' could not be loaded "
            "(are CUDA 13 and cuDNN 9 on the library path?)",
            library.string());
      },
      [&] {
        const std::string name = "lipsync_cuda_" + std::to_string(registry.registered.size());
        ort_env().RegisterExecutionProviderLibrary(name.c_str(), library.string());
      }));
  registry.registered.insert(library.string());
  LOG_INFO("runtime", "registered CUDA execution provider library {}", library.string());
  return {};
}

}  // namespace

Ort::Env& ort_env() {
  static Ort::Env env(ORT_LOGGING_LEVEL_WARNING, "lipsync", log_from_ort, nullptr);
  return env;
}

std::filesystem::path onnxruntime_library_dir() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<const void*>(&OrtGetApiBase), &info) == 0 ||
      info.dli_fname == nullptr) {
    return {};
  }
  return std::filesystem::path(info.dli_fname).parent_path();
}

Result<Ort::ConstEpDevice> cuda_ep_device(const std::filesystem::path& library, int device_id) {
  const auto path = library.empty() ? onnxruntime_library_dir() / kCudaEpLibrary : library;
  RETURN_IF_ERROR(register_cuda_library(path));
  std::vector<Ort::ConstEpDevice> cuda_devices;
  for (const auto& device : ort_env().GetEpDevices()) {
    if (std::string(device.EpName()) == kCudaEpName) cuda_devices.push_back(device);
  }
  if (cuda_devices.empty()) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "CUDA requested but {} (from '{}') found no CUDA device", kCudaEpName,
                      path.string());
  }
  if (device_id < 0 || device_id >= static_cast<int>(cuda_devices.size())) {
    return make_error(ErrorCode::kInvalidArgument, "CUDA device {} requested but only {} found",
                      device_id, cuda_devices.size());
  }
  return cuda_devices[device_id];
}

OrtAllocator* shared_allocator(Ort::ConstEpDevice device, OrtDeviceMemoryType memory_type) {
  auto& registry = cuda_registry();
  std::lock_guard lock(registry.mutex);
  try {
    const auto memory = device.GetMemoryInfo(memory_type);
    if (memory == nullptr) return nullptr;
    OrtAllocator* allocator = ort_env().GetSharedAllocator(memory);
    if (allocator == nullptr) {
      allocator = ort_env().CreateSharedAllocator(device, memory_type, OrtDeviceAllocator, nullptr);
    }
    return allocator;
  } catch (const Ort::Exception& e) {
    LOG_WARN("runtime", "no shared allocator (memory type {}) for {}: {}",
             static_cast<int>(memory_type), device.EpName(), e.what());
    return nullptr;
  }
}

StreamWait cuda_stream_wait() {
  // ORT offers no call that waits for an OrtSyncStream, and this module links no CUDA library:
  // cudaStreamSynchronize comes from the CUDA runtime that the CUDA EP library loaded.
  static const StreamWait wait = []() -> StreamWait {
    for (const char* name : {"libcudart.so.13", "libcudart.so.12", "libcudart.so"}) {
      void* library = dlopen(name, RTLD_NOW | RTLD_NOLOAD);
      if (library == nullptr) continue;
      if (void* symbol = dlsym(library, "cudaStreamSynchronize"))
        return reinterpret_cast<StreamWait>(symbol);
    }
    return nullptr;
  }();
  return wait;
}

std::shared_mutex& cuda_activity() {
  static std::shared_mutex mutex;
  return mutex;
}

std::string describe(Ort::ConstEpDevice device) {
  const auto hardware = device.Device();
  std::string text = fmt::format("{} on vendor 0x{:04x} {} device 0x{:04x}", device.EpName(),
                                 hardware.VendorId(), hardware.Vendor(), hardware.DeviceId());
  std::map<std::string, std::string> sorted;
  for (const auto& [key, value] : hardware.Metadata().GetKeyValuePairs())
    sorted.emplace(key, value);
  for (const auto& [key, value] : sorted) text += fmt::format(" {}={}", key, value);
  return text;
}

std::string describe_cpu() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    const auto colon = line.find(':');
    if (line.rfind("model name", 0) == 0 && colon != std::string::npos)
      return "CPU: " + line.substr(colon + 2);
  }
  return "CPU";
}

}  // namespace lipsync::runtime::detail
