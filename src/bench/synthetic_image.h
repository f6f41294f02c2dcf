// Synthetic, natural-looking BGR frames (smooth gradients, soft shapes, texture and sensor-like
// noise) for the JPEG tests and `lipsync bench jpeg`: flat images would flatter the encoder.
#pragma once

#include <cstdint>

#include "core/image.h"

namespace lipsync::media {

// Deterministic for a given (width, height, seed).
Image make_synthetic_frame(int width, int height, std::uint32_t seed);

}  // namespace lipsync::media
