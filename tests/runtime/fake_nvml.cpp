// A stand-in for libnvidia-ml.so.1 with two devices, so that GpuInfo's dlopen/NVML path is
// tested on machines without a GPU. Device i uses (i + 1) GiB of 80 GiB; its UUID is GPU-fake-i.
#include <cstdio>
#include <cstring>

namespace {
constexpr unsigned kDevices = 2;
constexpr unsigned long long kGiB = 1ull << 30;
int devices[kDevices] = {0, 1};
bool initialised = false;
}  // namespace

extern "C" {
struct nvmlMemory_t {
  unsigned long long total, free, used;
};
int nvmlInit_v2() {
  initialised = true;
  return 0;
}
int nvmlShutdown() {
  initialised = false;
  return 0;
}
int nvmlDeviceGetCount_v2(unsigned* count) {
  *count = kDevices;
  return initialised ? 0 : 1;
}
int nvmlDeviceGetHandleByIndex_v2(unsigned index, void** device) {
  if (index >= kDevices) return 2;  // NVML_ERROR_INVALID_ARGUMENT
  *device = &devices[index];
  return 0;
}
int nvmlDeviceGetHandleByUUID(const char* uuid, void** device) {
  for (unsigned i = 0; i < kDevices; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "GPU-fake-%u", i);
    if (std::strcmp(uuid, name) == 0) {
      *device = &devices[i];
      return 0;
    }
  }
  return 6;  // NVML_ERROR_NOT_FOUND
}
int nvmlDeviceGetMemoryInfo(void* device, nvmlMemory_t* memory) {
  const int index = *static_cast<int*>(device);
  memory->total = 80 * kGiB;
  memory->used = (index + 1) * kGiB;
  memory->free = memory->total - memory->used;
  return 0;
}
int nvmlDeviceGetName(void* device, char* name, unsigned length) {
  std::snprintf(name, length, "Fake GPU %d", *static_cast<int*>(device));
  return 0;
}
const char* nvmlErrorString(int result) {
  return result == 0 ? "Success" : "Fake NVML error";
}
}
