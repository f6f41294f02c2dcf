// Synthetic, natural-looking BGR frames (smooth gradients, soft shapes, texture and sensor-like
// noise) for `lipsync bench jpeg` and the JPEG tests (through the test-support library): flat
// images would flatter the encoder.
#pragma once

#include <cstdint>

#include "core/image.h"

namespace lipsync::bench {

// Deterministic for a given (width, height, seed).
Image make_synthetic_frame(int width, int height, std::uint32_t seed);

}  // namespace lipsync::bench
