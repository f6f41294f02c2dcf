// Internal to media: FFmpeg prints encoder statistics and probe notes at its default level;
// errors reach callers as Status, so its own log is lowered to errors once per process.
#pragma once

extern "C" {
#include <libavutil/log.h>
}

#include <mutex>

namespace lipsync::media::detail {

inline void quiet_ffmpeg_log() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (av_log_get_level() == AV_LOG_INFO) av_log_set_level(AV_LOG_ERROR);
  });
}

}  // namespace lipsync::media::detail
