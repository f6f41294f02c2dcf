#include "runtime/gpu_info.h"

#include <dlfcn.h>

#include <charconv>
#include <cstdlib>
#include <mutex>

#include "core/log.h"

namespace lipsync::runtime {
namespace {

// The few NVML declarations used (nvml.h, stable C ABI); no NVML header is needed to build.
using NvmlReturn = int;  // nvmlReturn_t; 0 = NVML_SUCCESS
using NvmlDevice = struct NvmlDeviceOpaque*;
struct NvmlMemory {  // nvmlMemory_t
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
};
constexpr NvmlReturn kNvmlSuccess = 0;
constexpr unsigned kNvmlNameLength = 96;  // NVML_DEVICE_NAME_V2_BUFFER_SIZE

struct NvmlApi {
  NvmlReturn (*init)();
  NvmlReturn (*shutdown)();
  NvmlReturn (*device_count)(unsigned*);
  NvmlReturn (*handle_by_index)(unsigned, NvmlDevice*);
  NvmlReturn (*handle_by_uuid)(const char*, NvmlDevice*);
  NvmlReturn (*memory_info)(NvmlDevice, NvmlMemory*);
  NvmlReturn (*name)(NvmlDevice, char*, unsigned);
  const char* (*error_string)(NvmlReturn);
};

struct LibraryCloser {
  void operator()(void* handle) const { dlclose(handle); }
};
using Library = std::unique_ptr<void, LibraryCloser>;

template <typename F>
bool bind(void* library, const char* symbol, F*& out) {
  out = reinterpret_cast<F*>(dlsym(library, symbol));
  return out != nullptr;
}

Result<NvmlApi> bind_api(void* library) {
  NvmlApi api{};
  const bool bound = bind(library, "nvmlInit_v2", api.init) &&
                     bind(library, "nvmlShutdown", api.shutdown) &&
                     bind(library, "nvmlDeviceGetCount_v2", api.device_count) &&
                     bind(library, "nvmlDeviceGetHandleByIndex_v2", api.handle_by_index) &&
                     bind(library, "nvmlDeviceGetHandleByUUID", api.handle_by_uuid) &&
                     bind(library, "nvmlDeviceGetMemoryInfo", api.memory_info) &&
                     bind(library, "nvmlDeviceGetName", api.name) &&
                     bind(library, "nvmlErrorString", api.error_string);
  if (!bound) return make_error(ErrorCode::kUnavailable, "a symbol is missing: {}", dlerror());
  return api;
}

class NvmlGpuInfo final : public GpuInfo {
 public:
  explicit NvmlGpuInfo(const std::string& library_name) { open(library_name); }
  ~NvmlGpuInfo() override {
    if (initialised_) api_.shutdown();
  }

  std::vector<GpuMemory> memory(std::span<const int> device_ids) const override {
    std::vector<GpuMemory> found;
    if (!initialised_) return found;
    const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
    for (int id : device_ids) {
      auto read =
          read_device(id, visible ? std::optional<std::string_view>(visible) : std::nullopt);
      if (read.ok()) {
        found.push_back(std::move(read).value());
      } else {
        std::call_once(device_logged_, [&] {
          LOG_WARN("runtime", "GPU memory of CUDA device {}: {}", id, read.status().message());
        });
      }
    }
    return found;
  }

  const std::string& unavailable_reason() const override { return reason_; }

 private:
  void open(const std::string& library_name) {
    library_.reset(dlopen(library_name.c_str(), RTLD_NOW | RTLD_LOCAL));
    if (library_ == nullptr)
      return unavailable(fmt::format("cannot load '{}': {}", library_name, dlerror()));
    auto api = bind_api(library_.get());
    if (!api.ok())
      return unavailable(fmt::format("'{}': {}", library_name, api.status().message()));
    api_ = *api;
    if (NvmlReturn r = api_.init(); r != kNvmlSuccess) {
      return unavailable(fmt::format("nvmlInit failed: {}", api_.error_string(r)));
    }
    initialised_ = true;
    unsigned count = 0;
    if (api_.device_count(&count) != kNvmlSuccess || count == 0) {
      return unavailable("NVML found no GPU");
    }
    LOG_INFO("runtime", "NVML: {} GPU(s) visible", count);
  }

  void unavailable(std::string reason) {
    reason_ = std::move(reason);
    LOG_INFO("runtime", "GPU memory is not reported: {}", reason_);
  }

  Result<GpuMemory> read_device(int cuda_device, std::optional<std::string_view> visible) const {
    ASSIGN_OR_RETURN(const NvmlDeviceRef ref, nvml_device_for(cuda_device, visible));
    NvmlDevice device = nullptr;
    const NvmlReturn found = ref.index ? api_.handle_by_index(*ref.index, &device)
                                       : api_.handle_by_uuid(ref.uuid.c_str(), &device);
    if (found != kNvmlSuccess) {
      return make_error(ErrorCode::kNotFound, "NVML has no device {}: {}",
                        ref.index ? std::to_string(*ref.index) : ref.uuid,
                        api_.error_string(found));
    }
    NvmlMemory memory{};
    if (NvmlReturn r = api_.memory_info(device, &memory); r != kNvmlSuccess)
      return make_error(ErrorCode::kUnavailable, "nvmlDeviceGetMemoryInfo: {}",
                        api_.error_string(r));
    char name[kNvmlNameLength] = {};
    if (api_.name(device, name, kNvmlNameLength) != kNvmlSuccess) name[0] = '\0';
    return GpuMemory{cuda_device, name, static_cast<int64_t>(memory.used),
                     static_cast<int64_t>(memory.total)};
  }

  Library library_;
  NvmlApi api_{};
  bool initialised_ = false;
  std::string reason_;
  mutable std::once_flag device_logged_;
};

std::string_view trim(std::string_view text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  return text;
}

}  // namespace

std::unique_ptr<GpuInfo> open_nvml_gpu_info(const std::string& library) {
  return std::make_unique<NvmlGpuInfo>(library);
}

Result<NvmlDeviceRef> nvml_device_for(int cuda_device,
                                      std::optional<std::string_view> cuda_visible_devices) {
  if (cuda_device < 0) {
    return make_error(ErrorCode::kInvalidArgument, "CUDA device {} is negative", cuda_device);
  }
  if (!cuda_visible_devices.has_value()) return NvmlDeviceRef{static_cast<unsigned>(cuda_device)};
  std::string_view rest = *cuda_visible_devices;
  for (int ordinal = 0;; ++ordinal) {
    const auto comma = rest.find(',');
    const std::string_view entry = trim(rest.substr(0, comma));
    if (ordinal == cuda_device) {
      if (entry.starts_with("GPU-") || entry.starts_with("MIG-"))
        return NvmlDeviceRef{std::nullopt, std::string(entry)};
      unsigned index = 0;
      const auto [end, error] = std::from_chars(entry.data(), entry.data() + entry.size(), index);
      if (error == std::errc() && end == entry.data() + entry.size() && !entry.empty())
        return NvmlDeviceRef{index};
      return make_error(ErrorCode::kInvalidArgument,
                        "CUDA_VISIBLE_DEVICES='{}': entry {} ('{}') is not an index or a UUID",
                        *cuda_visible_devices, ordinal, entry);
    }
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return make_error(ErrorCode::kNotFound, "CUDA device {} is not in CUDA_VISIBLE_DEVICES='{}'",
                    cuda_device, *cuda_visible_devices);
}

}  // namespace lipsync::runtime
