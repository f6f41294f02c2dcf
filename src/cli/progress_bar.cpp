#include "cli/progress_bar.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace lipsync::cli {
namespace {

constexpr int kBarWidth = 30;
constexpr double kLineEveryS = 1.0;  // off a terminal: frame lines at most this often

bool is_terminal(std::FILE* out) {
  return ::isatty(::fileno(out)) != 0;
}

}  // namespace

Result<ProgressMode> parse_progress_mode(std::string_view text) {
  if (text == "auto") return ProgressMode::kAuto;
  if (text == "always") return ProgressMode::kAlways;
  if (text == "never") return ProgressMode::kNever;
  return make_error(ErrorCode::kInvalidArgument, "--progress '{}' is not auto|always|never", text);
}

std::string format_duration(double seconds) {
  const auto total = static_cast<std::int64_t>(std::max(0.0, std::round(seconds)));
  if (total >= 3600) {
    return fmt::format("{}:{:02d}:{:02d}", total / 3600, total / 60 % 60, total % 60);
  }
  return fmt::format("{}:{:02d}", total / 60, total % 60);
}

std::string format_frames(std::int64_t done, std::int64_t total, double elapsed_s,
                          double frames_start_s) {
  const double fraction = total > 0 ? static_cast<double>(done) / static_cast<double>(total) : 0;
  const int filled = static_cast<int>(kBarWidth * fraction);
  const double frames_s = elapsed_s - frames_start_s;
  const double rate = done > 0 && frames_s > 0 ? static_cast<double>(done) / frames_s : 0;
  const std::string eta = rate > 0 ? format_duration((total - done) / rate) : "--";
  return fmt::format("[{}{}] {:3d}% {}/{} frames, {:.1f} frames/s, elapsed {}, ETA {}",
                     std::string(filled, '#'), std::string(kBarWidth - filled, '.'),
                     static_cast<int>(100 * fraction), done, total, rate,
                     format_duration(elapsed_s), eta);
}

ProgressBar::ProgressBar(ProgressMode mode, std::FILE* out)
    : shown_(mode == ProgressMode::kAlways || (mode == ProgressMode::kAuto && is_terminal(out))),
      terminal_(is_terminal(out)),
      out_(out),
      start_(SteadyClock::now()) {}

void ProgressBar::step(std::string_view what) {
  if (!shown_) return;
  write(fmt::format("{} {}...", format_duration(seconds()), what), false);
}

void ProgressBar::frames(std::int64_t done, std::int64_t total) {
  if (!shown_ || total <= 0) return;
  const double now = seconds();
  if (frames_start_s_ < 0) frames_start_s_ = now;
  const bool final = done >= total;
  if (!terminal_ && !final && last_line_s_ >= 0 && now - last_line_s_ < kLineEveryS) return;
  last_line_s_ = now;
  write(format_frames(done, total, now, frames_start_s_), final);
}

void ProgressBar::write(const std::string& text, bool final) {
  if (terminal_) {
    // Back to the line's start and clear it: the line is rewritten in place.
    fmt::print(out_, "\r\x1b[K{}{}", text, final ? "\n" : "");
  } else {
    fmt::print(out_, "{}\n", text);
  }
  std::fflush(out_);
}

}  // namespace lipsync::cli
