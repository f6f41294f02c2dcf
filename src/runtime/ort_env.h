// Internal to module `runtime`: the one process-wide Ort::Env and CUDA plugin-EP selection.
// Not included outside src/runtime (it exposes ORT types).
#pragma once

#include <onnxruntime_cxx_api.h>

#include <filesystem>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "core/status.h"

namespace lipsync::runtime::detail {

Ort::Env& ort_env();

// Folder holding the loaded libonnxruntime.so (where the CUDA EP libraries are expected).
std::filesystem::path onnxruntime_library_dir();

// Registers the CUDA EP library once per path and returns the EP device for CUDA ordinal
// `device_id`. Errors say which library or device is missing.
Result<Ort::ConstEpDevice> cuda_ep_device(const std::filesystem::path& library, int device_id);

// The shared allocator of `memory` for `device`: HOST_ACCESSIBLE = pinned host memory (staging
// for fast copies), DEFAULT = device memory; nullptr if the EP offers none.
OrtAllocator* shared_allocator(Ort::ConstEpDevice device, OrtDeviceMemoryType memory);

// Waits until a CUDA stream (an OrtSyncStream's handle) has done its work; 0 on success, else
// the CUDA error code. Null where the CUDA runtime is not loaded (no CUDA EP in the process).
using StreamWait = int (*)(void* stream);
StreamWait cuda_stream_wait();

// ORT captures a CUDA graph in cudaStreamCaptureModeGlobal: while it captures, a CUDA call of
// another thread (an allocation, a synchronous copy, a stream wait) fails with CUDA error 900 and
// spoils the capture (seen on the H100: an encoder run failed so while the UNet captured on
// another thread). So the module's CUDA work (runs, copies, staging memory, creating and
// destroying sessions) holds this shared, and a run that may capture holds it exclusively.
std::shared_mutex& cuda_activity();

// "CUDAExecutionProvider on NVIDIA ... (key=value ...)": what ORT reports about the device.
std::string describe(Ort::ConstEpDevice device);
// "CPU: <model name from /proc/cpuinfo>"
std::string describe_cpu();

}  // namespace lipsync::runtime::detail
