#include "imaging/frame_sequence.h"

namespace lipsync::imaging {
namespace {

std::int64_t floor_mod(std::int64_t a, std::int64_t n) {
  const std::int64_t r = a % n;
  return r < 0 ? r + n : r;
}

// ref: pipeline.md §7: the reference renderer steps its index first, then bounces off the ends,
// so output frame 0 uses source frame 1: 1, 2, ..., N-1, N-2, ..., 0, 1, ...
std::int64_t ping_pong(std::int64_t i, std::int64_t n) {
  const std::int64_t period = 2 * (n - 1);
  const std::int64_t phase = floor_mod(i + 1, period);
  return phase < n ? phase : period - phase;
}

}  // namespace

std::string_view to_string(SequenceMode mode) {
  return mode == SequenceMode::kPingPong ? "ping_pong" : "wrap";
}

Result<SequenceMode> parse_sequence_mode(std::string_view name) {
  if (name == "ping_pong") return SequenceMode::kPingPong;
  if (name == "wrap") return SequenceMode::kWrap;
  return make_error(ErrorCode::kInvalidArgument, "frame sequence mode '{}' is not ping_pong|wrap",
                    name);
}

std::int64_t source_frame_index(SequenceMode mode, std::int64_t i, std::int64_t frame_count,
                                std::int64_t start) {
  if (frame_count <= 1) return 0;
  if (mode == SequenceMode::kWrap) return floor_mod(floor_mod(start, frame_count) + i, frame_count);
  return ping_pong(i, frame_count);
}

}  // namespace lipsync::imaging
