// Which source frame goes with output frame i (pipeline.md §7).
#pragma once

#include <cstdint>
#include <string_view>

#include "core/status.h"

namespace lipsync::imaging {

enum class SequenceMode {
  kPingPong,  // the reference renderer: 1, 2, ..., N-1, N-2, ..., 0, 1, ... (period 2(N-1))
  kWrap,      // the older server's batch API: (start + i) mod N
};

std::string_view to_string(SequenceMode mode);  // "ping_pong" | "wrap"
Result<SequenceMode> parse_sequence_mode(std::string_view name);

// The source frame for output frame `i` of an avatar with `frame_count` frames (> 0).
// Ping-pong ignores `start` (the reference renderer uses the global audio index); with one
// frame every mode returns 0. Wrap accepts any `start`, negative included.
std::int64_t source_frame_index(SequenceMode mode, std::int64_t i, std::int64_t frame_count,
                                std::int64_t start = 0);

}  // namespace lipsync::imaging
