// Client audio bytes (gRPC audio.encoded, the WebSocket upload) through the allow-listed decoder.
// Beyond crashes and leaks, checks the promises of docs/security.md: the output never exceeds
// the per-request budget, and what is accepted is finite audio within the limit.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>

#include "audio/audio_decoder.h"

namespace {

// Short enough that a tiny highly compressed input (FLAC of silence) cannot keep one run busy
// for long; the limit logic is the same for any value.
constexpr double kLimitS = 30.0;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace lipsync::audio;
  DecodeCounters counters;
  const auto bytes = std::as_bytes(std::span(data, size));
  auto samples =
      decode_audio_bytes(bytes, "fuzz input", {.max_duration_s = kLimitS, .counters = &counters});
  if (counters.peak_output_bytes > decoded_audio_budget_bytes(kLimitS)) __builtin_trap();
  if (!samples.ok()) {
    const auto code = samples.status().code();
    if (code != lipsync::ErrorCode::kInvalidArgument &&
        code != lipsync::ErrorCode::kResourceExhausted &&
        code != lipsync::ErrorCode::kUnimplemented) {
      __builtin_trap();  // client bytes never make a server-side error
    }
    return 0;
  }
  if (samples->empty() || samples->size() > static_cast<std::size_t>(kLimitS * kSampleRateHz)) {
    __builtin_trap();
  }
  for (float v : *samples) {
    if (!std::isfinite(v)) __builtin_trap();
  }
  return 0;
}
