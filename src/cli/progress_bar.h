// `lipsync render`'s progress on stderr: each step before the first frame (loading the audio,
// the models and the avatar, the audio features), then the frames: percent, count, frames/s,
// elapsed time and the estimated time left.
//
//   ProgressBar bar(ProgressMode::kAuto);  // shown when stderr is a terminal
//   bar.step("loading the model");
//   ...
//   bar.frames(done, total);               // after each batch; the last call ends the line
//
// On a terminal one line is rewritten in place; elsewhere (`always` into a file or a pipe) each
// step and at most one frame line per second are written as lines of their own, plus the last.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/status.h"

namespace lipsync::cli {

enum class ProgressMode { kAuto, kAlways, kNever };  // auto: when stderr is a terminal

Result<ProgressMode> parse_progress_mode(std::string_view text);  // "auto" | "always" | "never"

// "1:05" (m:ss), or "1:02:03" from an hour on.
std::string format_duration(double seconds);

// The frame part of the line: "[####......]  40% 100/250 frames, 12.5 frames/s, elapsed 0:09,
// ETA 0:12". The rate and the ETA count from `frames_start_s` (when the frames began), elapsed
// from the command's start; both in seconds since that start.
std::string format_frames(std::int64_t done, std::int64_t total, double elapsed_s,
                          double frames_start_s);

class ProgressBar {
 public:
  explicit ProgressBar(ProgressMode mode, std::FILE* out = stderr);
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // What the command does now, until the next step or the first frames() call.
  void step(std::string_view what);
  // `done` of `total` frames are written; done == total ends the line.
  void frames(std::int64_t done, std::int64_t total);
  double seconds() const { return seconds_since(start_); }  // since construction
  bool shown() const { return shown_; }

 private:
  void write(const std::string& text, bool final);

  bool shown_;
  bool terminal_;
  std::FILE* out_;
  SteadyClock::time_point start_;
  double frames_start_s_ = -1;  // when the frames began (the first frames() call)
  double last_line_s_ = -1;     // when a frame line was last written (not on a terminal)
};

}  // namespace lipsync::cli
