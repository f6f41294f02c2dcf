// Internal to module `runtime`: float32 values into and out of ORT tensors, converted to or from
// float16 where the model wants it; large batches are split over a few threads. Not included
// outside src/runtime (it exposes ORT types).
#pragma once

#include <onnxruntime_cxx_api.h>

#include <cstddef>
#include <functional>
#include <span>

#include "core/thread_pool.h"

namespace lipsync::runtime::detail {

// Copies of fewer values than this run on the calling thread.
inline constexpr std::size_t kParallelCopyValues = std::size_t{1} << 20;

// The threads that split the copies of large batches: one pool for the whole process, shared by
// every session (a server holds many), of as many threads as the machine has (1..8). Created on
// first use, it lives until exit; its threads sleep between copies.
ThreadPool& copy_pool();

// Calls fn(begin, end) over [0, n): once on the calling thread for small n, else in chunks
// over copy_pool() and the calling thread.
void for_chunks(std::size_t n, const std::function<void(std::size_t, std::size_t)>& fn);

// Writes `from` into tensor `to` from value `offset`, converting to float16 when `half`.
void copy_in(std::span<const float> from, Ort::Value& to, bool half, std::size_t offset = 0);

// Reads `to.size()` values of tensor `from` from value `offset` as float32.
void copy_out(const Ort::Value& from, std::span<float> to, bool half, std::size_t offset = 0);

}  // namespace lipsync::runtime::detail
