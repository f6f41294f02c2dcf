#include "ffmpeg/log.h"

extern "C" {
#include <libavutil/log.h>
}

#include <cstdarg>
#include <cstdio>
#include <mutex>
#include <string>

namespace lipsync::ffmpeg {
namespace {

// FFmpeg may write one line in several calls; each thread gathers its own until the newline.
thread_local std::string pending_line;

void log_callback(void* object, int level, const char* format, va_list args) {
  const log::Level facade = facade_level(level);
  if (!log::enabled(facade)) return;
  if (pending_line.empty() && object != nullptr) {
    const AVClass* av_class = *static_cast<AVClass**>(object);
    if (av_class != nullptr && av_class->item_name != nullptr)
      pending_line = std::string(av_class->item_name(object)) + ": ";
  }
  char text[1024];
  va_list copy;
  va_copy(copy, args);
  std::vsnprintf(text, sizeof(text), format, copy);
  va_end(copy);
  pending_line += text;
  if (pending_line.empty() || pending_line.back() != '\n') return;
  pending_line.pop_back();
  log::write(facade, "ffmpeg", pending_line);
  pending_line.clear();
}

}  // namespace

log::Level facade_level(int ffmpeg_level) {
  if (ffmpeg_level <= AV_LOG_ERROR) return log::Level::kWarn;
  if (ffmpeg_level <= AV_LOG_INFO) return log::Level::kDebug;
  return log::Level::kTrace;
}

void route_log_to_facade() {
  static std::once_flag once;
  std::call_once(once, [] { av_log_set_callback(log_callback); });
}

}  // namespace lipsync::ffmpeg
