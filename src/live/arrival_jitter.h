// How late a live session's speech audio arrives against the pace of its own samples, and the
// jitter buffer that follows from it: a new utterance's first frame waits for the lateness seen
// in the last few utterances, so that chunks as late as those leave no gap in it.
//
// An utterance's pace is anchored at the push that made its first frames ready: the audio
// pushed by then is taken as on time. Each later push's earliest 40 ms (one frame of audio) is
// due at anchor + its end position; arriving after that is lateness. Chunks longer than a frame
// count as late too (their first frame's audio waited for the rest), as they should: they need
// the same buffer. Audio sent faster than it is spoken (a TTS burst) is early, never late.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>

#include "live/live_renderer.h"

namespace lipsync::live {

class ArrivalJitter {
 public:
  using Duration = LiveClock::duration;

  // `max_buffer`: the most a first frame waits (0: no buffer).
  explicit ArrivalJitter(Duration max_buffer) : max_buffer_(max_buffer) {}

  // A new utterance: the last one's lateness is remembered, this one's starts at 0.
  void start_utterance();
  // `samples` (16 kHz) of the current utterance arrived at `at`; `anchor`: its first frames
  // became ready with them.
  void arrived(std::size_t samples, TimePoint at, bool anchor);

  // The wait for a new utterance's first frame: the largest lateness of the last kRemembered
  // utterances, less `tolerated` (what the session absorbs without a buffer where this
  // utterance starts: a frame waits for late audio up to one frame period before it is due),
  // at most `max_buffer`.
  Duration buffer(Duration tolerated) const;
  // The largest lateness remembered, the current utterance's included (ms).
  double late_ms() const;

  static constexpr std::size_t kRemembered = 4;

 private:
  const Duration max_buffer_;
  std::deque<Duration> recent_;  // the last utterances' largest lateness, newest last
  Duration current_{0};          // the current utterance's
  bool anchored_ = false;
  TimePoint anchor_;         // when the utterance's sample 0 is taken to have been spoken
  std::size_t samples_ = 0;  // of the current utterance, so far
};

}  // namespace lipsync::live
