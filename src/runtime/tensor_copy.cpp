#include "runtime/tensor_copy.h"

#include <algorithm>
#include <cstdint>
#include <thread>

#include "runtime/session.h"

namespace lipsync::runtime::detail {

ThreadPool& copy_pool() {
  static ThreadPool pool(std::clamp<std::size_t>(std::thread::hardware_concurrency(), 1, 8));
  return pool;
}

void for_chunks(std::size_t n, const std::function<void(std::size_t, std::size_t)>& fn) {
  ThreadPool& pool = copy_pool();
  if (n < kParallelCopyValues) return fn(0, n);
  const std::size_t chunks = pool.size() + 1;
  const std::size_t step = (n + chunks - 1) / chunks;
  pool.parallel_for(chunks,
                    [&](std::size_t c) { fn(std::min(n, c * step), std::min(n, (c + 1) * step)); });
}

void copy_in(std::span<const float> from, Ort::Value& to, bool half, std::size_t offset) {
  for_chunks(from.size(), [&](std::size_t begin, std::size_t end) {
    if (half) {
      auto* dst = reinterpret_cast<uint16_t*>(to.GetTensorMutableData<Ort::Float16_t>()) + offset;
      float_to_half(from.subspan(begin, end - begin), {dst + begin, end - begin});
    } else {
      std::copy(from.begin() + begin, from.begin() + end,
                to.GetTensorMutableData<float>() + offset + begin);
    }
  });
}

void copy_out(const Ort::Value& from, std::span<float> to, bool half, std::size_t offset) {
  for_chunks(to.size(), [&](std::size_t begin, std::size_t end) {
    if (half) {
      const auto* src =
          reinterpret_cast<const uint16_t*>(from.GetTensorData<Ort::Float16_t>()) + offset;
      half_to_float({src + begin, end - begin}, to.subspan(begin, end - begin));
    } else {
      const float* src = from.GetTensorData<float>() + offset;
      std::copy(src + begin, src + end, to.begin() + begin);
    }
  });
}

}  // namespace lipsync::runtime::detail
