// float32 <-> float16 conversion: F16C when the CPU has it, ORT's exact scalar code otherwise.
#include <onnxruntime_cxx_api.h>

#include <cstddef>

#include "runtime/session.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

namespace lipsync::runtime {
namespace {

void float_to_half_scalar(const float* from, uint16_t* to, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) to[i] = Ort::Float16_t(from[i]).val;
}

void half_to_float_scalar(const uint16_t* from, float* to, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) to[i] = Ort::Float16_t::FromBits(from[i]).ToFloat();
}

#if defined(__x86_64__)
// F16C from CPUID leaf 1 (clang 14, the fuzz build's compiler, has no "f16c" for
// __builtin_cpu_supports); "avx" also checks that the OS saves the AVX registers.
bool has_f16c() {
  static const bool supported = [] {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    return __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & bit_F16C) != 0 &&
           __builtin_cpu_supports("avx");
  }();
  return supported;
}

__attribute__((target("avx,f16c"))) void float_to_half_f16c(const float* from, uint16_t* to,
                                                            std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(from + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(to + i), h);
  }
  float_to_half_scalar(from + i, to + i, n - i);
}

__attribute__((target("avx,f16c"))) void half_to_float_f16c(const uint16_t* from, float* to,
                                                            std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(from + i));
    _mm256_storeu_ps(to + i, _mm256_cvtph_ps(h));
  }
  half_to_float_scalar(from + i, to + i, n - i);
}
#endif

}  // namespace

void float_to_half(std::span<const float> from, std::span<uint16_t> to) {
  const std::size_t n = std::min(from.size(), to.size());
#if defined(__x86_64__)
  if (has_f16c()) return float_to_half_f16c(from.data(), to.data(), n);
#endif
  float_to_half_scalar(from.data(), to.data(), n);
}

void half_to_float(std::span<const uint16_t> from, std::span<float> to) {
  const std::size_t n = std::min(from.size(), to.size());
#if defined(__x86_64__)
  if (has_f16c()) return half_to_float_f16c(from.data(), to.data(), n);
#endif
  half_to_float_scalar(from.data(), to.data(), n);
}

}  // namespace lipsync::runtime
