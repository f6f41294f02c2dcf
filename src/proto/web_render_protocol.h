// The browser page's WebSocket /ws/render protocol (served by server/web_render.h, spoken by
// client/web_client.h), one clip per connection:
//   client -> {"model": "ID", "sequence": "ping_pong"|"wrap", "start_frame": 0, "window": N}
//             (text; all but the model optional)
//   client -> the audio file's bytes (binary; any format FFmpeg reads, at most the server's
//             kMaxWebUploadBytes)
//   server -> {"frames": N, "width": W, "height": H, "fps": 25}                      (text)
//   server -> N binary messages in frame order: kFrameHeaderBytes of header (uint32 LE frame
//             index, uint32 LE timestamp in ms) followed by the frame's JPEG
//   server -> {"done": true, "frames": N, "ms": total} or, on any failure, {"error": "CODE: text"}
// Flow control, for players that hold a bounded number of frames (the page): with "window": N,
// frame i is sent only once the client sent {"played": K} (text, any time after the audio;
// K = the frames it has let go of) with i < K + N. Without it, frames go as fast as rendered.
// The first message is refused unparsed past the server's kMaxWebJobBytes (4 KiB), and must
// arrive within server.ws_first_message_timeout_ms (docs/security.md). Closing the socket stops
// the render (batches still queued are dropped). When the server shuts down, a render in
// progress ends with {"error": "UNAVAILABLE: the server is shutting down"} and a close frame
// 1001 "going away" with the same reason.
#pragma once

#include <cstddef>

namespace lipsync::proto {

inline constexpr std::size_t kFrameHeaderBytes = 8;

}  // namespace lipsync::proto
