// The browser page's WebSocket /ws/render protocol (served by server/web_render.h, spoken by
// client/web_client.h), one clip per connection:
//   client -> {"model": "ID", "sequence": "ping_pong"|"wrap", "start_frame": 0}   (text; the
//             last two optional)
//   client -> the audio file's bytes (binary; any format FFmpeg reads, at most the server's
//             kMaxWebUploadBytes)
//   server -> {"frames": N, "width": W, "height": H, "fps": 25}                      (text)
//   server -> N binary messages in frame order: kFrameHeaderBytes of header (uint32 LE frame
//             index, uint32 LE timestamp in ms) followed by the frame's JPEG
//   server -> {"done": true, "frames": N, "ms": total} or, on any failure, {"error": "CODE: text"}
// Closing the socket stops the render (batches already submitted still run).
#pragma once

#include <cstddef>

namespace lipsync::proto {

inline constexpr std::size_t kFrameHeaderBytes = 8;

}  // namespace lipsync::proto
