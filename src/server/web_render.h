// The browser demo on the server's HTTP port: GET / (one self-contained page, web/index.html
// embedded at build time), GET /api/models (JSON: every configured model's id and state) and
// the WebSocket /ws/render. Module-internal: included by server.cpp only.
//
// /ws/render protocol (one clip per connection):
//   client -> {"model": "ID", "sequence": "ping_pong"|"wrap", "start_frame": 0}   (text; the
//             last two optional)
//   client -> the audio file's bytes (binary; any format FFmpeg reads, at most kMaxWebUploadBytes)
//   server -> {"frames": N, "width": W, "height": H, "fps": 25}                      (text)
//   server -> N binary messages in frame order: kFrameHeaderBytes of header (uint32 LE frame
//             index, uint32 LE timestamp in ms) followed by the frame's JPEG
//   server -> {"done": true, "frames": N, "ms": total} or, on any failure, {"error": "CODE: text"}
// Closing the socket stops the render (batches already submitted still run).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "audio/audio_features.h"
#include "audio/mel_spectrogram.h"
#include "core/config.h"
#include "http/http_server.h"
#include "http/metrics.h"
#include "pipeline/scheduler.h"
#include "registry/model_registry.h"
#include "server/service_context.h"

namespace lipsync::server {

inline constexpr std::size_t kMaxWebUploadBytes = std::size_t{32} << 20;
inline constexpr double kMaxWebAudioSeconds = 600.0;  // 15 000 frames
inline constexpr std::size_t kFrameHeaderBytes = 8;

// Adds GET /, GET /api/models and WebSocket /ws/render. `context` must outlive the server.
void add_web_routes(const ServiceContext& context, http::Routes& routes,
                    http::WebSocketRoutes& websockets);

// The header of output frame `index`'s binary message.
std::array<std::uint8_t, kFrameHeaderBytes> frame_header(std::int64_t index);

// The page (src/server/web/index.html).
std::string_view web_page_html();

}  // namespace lipsync::server
