// The frames of rendered batches as RenderResponse messages under the server's message limit,
// shared by the native service's streaming calls (RenderStream, Session) and Render.
// Module-internal: included by src/server only.
#pragma once

#include <chrono>
#include <cstddef>
#include <string_view>

#include "core/clock.h"
#include "core/status.h"
#include "pipeline/batch_window.h"
#include "proto/lipsync_v1.pb.h"

namespace lipsync::server {

// Room left in a message for everything but the frame bytes (fields, tags, timings).
inline constexpr std::size_t kMessageOverheadBytes = 4096;

// Returned by the render loops when the client went away; the handlers answer CANCELLED.
Status cancelled();

// Frames [from, to) of `batch` appended to `response`, with their indices and timestamps.
void add_frames(const pipeline::ClipBatch& batch, std::size_t from, std::size_t to,
                v1::RenderResponse& response);

// The batch's stage timings added to `timings`.
void add_timings(const pipeline::ClipBatch& batch, v1::StageTimings& timings);

// RESOURCE_EXHAUSTED: `what` of `bytes` is above the message limit.
Status too_large(std::size_t bytes, std::size_t limit, std::string_view what);

// The end of the frames of `batch` from `from` that fit one message of at most `limit` bytes.
Result<std::size_t> message_end(const pipeline::ClipBatch& batch, std::size_t from,
                                std::size_t limit);

// Writes a finished batch as one or more messages under the message limit: `header` (format,
// size, clip length, and in the first message of a call the start fields) plus the frames.
// The start fields are cleared once written.
template <typename Writer>
Status write_batch(const pipeline::ClipBatch& batch, v1::RenderResponse& header, Writer& writer,
                   std::chrono::steady_clock::time_point start, std::size_t limit) {
  for (std::size_t from = 0; from < batch.count();) {
    ASSIGN_OR_RETURN(const std::size_t to, message_end(batch, from, limit));
    v1::RenderResponse message = header;
    if (from == 0) add_timings(batch, *message.mutable_timings());
    add_frames(batch, from, to, message);
    message.mutable_timings()->set_total_ms(ms_since(start));
    if (!writer.Write(message)) return cancelled();
    header.clear_model_loaded();
    header.clear_model_load_ms();
    header.mutable_timings()->clear_audio_ms();
    from = to;
  }
  return {};
}

}  // namespace lipsync::server
