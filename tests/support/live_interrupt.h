// What a live client sees after it interrupted speech, for the native and WebSocket live tests.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace lipsync::testing {

struct AfterInterrupt {
  int speech_frames = 0;      // speech frames seen after the interrupt
  double first_idle_ms = -1;  // from the interrupt to the first idle frame
  bool stream_ended = false;  // the frames stopped before the end below
};

// Reads frames (`next_utterance`: the next frame's utterance, 0 when idle; nullopt once the
// stream ended) until ten idle frames in a row, or more than `max_speech` speech frames. An idle
// frame can come before the interrupt is acted on: on a starved machine, speech whose features
// are late shows idle frames meanwhile; so one idle frame is not the end of the speech.
template <class NextUtterance>
AfterInterrupt frames_after_interrupt(NextUtterance next_utterance,
                                      std::chrono::steady_clock::time_point interrupted,
                                      int max_speech) {
  AfterInterrupt seen;
  for (int idle_in_a_row = 0; idle_in_a_row < 10 && seen.speech_frames <= max_speech;) {
    const std::optional<std::int64_t> utterance = next_utterance();
    if (!utterance) {
      seen.stream_ended = true;
      break;
    }
    if (*utterance != 0) {
      ++seen.speech_frames;
      idle_in_a_row = 0;
      continue;
    }
    if (seen.first_idle_ms < 0) {
      seen.first_idle_ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - interrupted)
              .count();
    }
    ++idle_in_a_row;
  }
  return seen;
}

}  // namespace lipsync::testing
