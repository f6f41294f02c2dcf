// Internal to module `runtime`: the tensors one run fills and reads, reused by later runs of the
// same batch size (Session::Impl keeps a small pool of them; staging.cpp). Not included outside
// src/runtime (it exposes ORT types).
//
// Pinned host memory on CUDA (fast DMA copies), plain host memory for float16 conversion on CPU.
// A null Value means the caller's own memory is bound directly (float32 on CPU). The tensors are
// described as CPU memory even when pinned: ORT then copies them with the EP's host<->device
// transfer (a DMA from pinned memory) instead of treating them as device data.
#pragma once

#include <onnxruntime_cxx_api.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace lipsync::runtime::detail {

struct StagingFree {
  OrtAllocator* allocator;
  void operator()(void* p) const { allocator->Free(allocator, p); }
};
using StagingMemory = std::unique_ptr<void, StagingFree>;

struct Staging {
  std::vector<StagingMemory> memory;  // declared first: freed after the tensors over it
  int64_t batch = 0;
  bool whole = false;  // every input and output staged (a Session::Batch)
  // A Session::Batch on CUDA: device copies of the inputs and outputs, so that the host<->device
  // copies happen outside the run (Session::upload, and right after the run).
  std::vector<Ort::Value> device_inputs;
  std::vector<Ort::Value> device_outputs;
  // The batch's own CUDA stream for those copies, so that they do not wait for (nor delay) the
  // run of another batch on the EP's stream; null where none can be had (copies then use ORT's
  // synchronous path).
  Ort::SyncStream copy_stream{nullptr};
  std::vector<Ort::Value> inputs;
  std::vector<Ort::Value> outputs;
};

// Staged batches a session keeps for reuse; the oldest go beyond this (batch sizes seen long ago).
// A device executor holds up to five batches at once (one prepared, one running, two waiting for
// its finisher, one being composited: pipeline/device_executor.h), of up to seven sizes on CUDA,
// and the pool keeps of each size as many as were in use at once: a bound below 5 x 7 would make
// and free stagings while serving steadily. On CUDA a staging's memory comes from allocators
// without an arena: making one is cudaHostAlloc and cudaMalloc, freeing one cudaFreeHost and
// cudaFree, which synchronise the device. The pool never holds more than was in use at once:
// the bound is a safety net, not a reservation.
inline constexpr std::size_t kMaxPooledStagings = 35;

}  // namespace lipsync::runtime::detail
