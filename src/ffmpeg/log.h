// FFmpeg's own log lines ("[mp3float @ 0x...] Could not update timestamps ...") through the
// project's logging facade (core/log.h), at its configured level, instead of FFmpeg printing
// to stderr on its own. Errors reach callers as Status, so FFmpeg's lines are detail: its
// errors log as warnings, its warnings and notes as debug, its verbose output as trace.
#pragma once

#include "core/log.h"

namespace lipsync::ffmpeg {

// Installs the route once per process (later calls do nothing). main() calls it.
void route_log_to_facade();

// The facade level for an FFmpeg level (AV_LOG_*).
log::Level facade_level(int ffmpeg_level);

}  // namespace lipsync::ffmpeg
