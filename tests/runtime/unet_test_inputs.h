// The UNet's tensor specs and seeded random inputs, shared by the runtime tests.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "runtime/session.h"

namespace lipsync::runtime::testing_inputs {

inline constexpr int64_t kImageValues = 6 * 320 * 320;
inline constexpr int64_t kAudioValues = 32 * 16 * 16;
inline constexpr int64_t kOutputValues = 3 * 320 * 320;

inline std::vector<TensorSpec> unet_inputs() {
  return {{"input", {-1, 6, 320, 320}}, {"audio", {-1, 32, 16, 16}}};
}
inline std::vector<TensorSpec> unet_outputs() {
  return {{"output", {-1, 3, 320, 320}}};
}

// n values uniform in [0, 1), the same for the same seed.
inline std::vector<float> random_values(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(0.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

}  // namespace lipsync::runtime::testing_inputs
