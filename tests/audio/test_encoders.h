// Small deterministic FeatureEncoder implementations for tests (no ONNX Runtime).
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "audio/audio_features.h"

namespace lipsync::audio::testing {

// Each output value mixes two input values of its own window: batch-independent and sensitive
// to every window element's position. Records the batch sizes it was called with.
class MixingEncoder : public FeatureEncoder {
 public:
  Result<std::vector<float>> encode(std::span<const float> windows, std::size_t count) override {
    batches.push_back(count);
    std::vector<float> out(count * kFeatureSize);
    for (std::size_t w = 0; w < count; ++w) {
      const float* in = windows.data() + w * kWindowSize;
      for (std::size_t j = 0; j < kFeatureSize; ++j) {
        const float scale = 1.0f + static_cast<float>(j) / kFeatureSize;
        out[w * kFeatureSize + j] =
            in[j % kWindowSize] * scale + in[(j * 7 + 3) % kWindowSize] + in[kWindowSize - 1 - j];
      }
    }
    return out;
  }
  std::vector<std::size_t> batches;
};

// Returns the wrong number of values.
class BrokenEncoder : public FeatureEncoder {
 public:
  Result<std::vector<float>> encode(std::span<const float>, std::size_t count) override {
    return std::vector<float>(count * kFeatureSize - 1, 0.0f);
  }
};

}  // namespace lipsync::audio::testing
