// The browser demo on the server's HTTP port: GET / (one self-contained page, web/index.html
// embedded at build time), GET /api/models (JSON: every configured model's id and state, and
// the upload limits below, which the page checks before uploading) and
// the WebSocket /ws/render. Module-internal: included by server.cpp only.
// The /ws/render protocol: proto/web_render_protocol.h.
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
#include "pipeline/clip_plan.h"
#include "pipeline/scheduler.h"
#include "proto/web_render_protocol.h"
#include "registry/model_registry.h"
#include "server/service_context.h"

namespace lipsync::server {

inline constexpr std::size_t kMaxWebUploadBytes = std::size_t{32} << 20;
// The first message (the JSON job: a model id and two options) is refused past this, unparsed.
inline constexpr std::size_t kMaxWebJobBytes = 4096;
inline constexpr double kMaxWebAudioSeconds = 600.0;  // 15 000 frames
using proto::kFrameHeaderBytes;

// Adds GET /, GET /api/models and WebSocket /ws/render. `context` must outlive the server.
void add_web_routes(const ServiceContext& context, http::Routes& routes,
                    http::WebSocketRoutes& websockets);

// The job of the first message: {"model": ID, "sequence": ..., "start_frame": N, "window": N}
// as JSON text. INVALID_ARGUMENT names what is wrong (not an object, no or a bad model id, a
// bad option). Checks nothing against the server's models. Fuzzed (fuzz/ws_messages_fuzzer.cpp).
struct WebJob {
  pipeline::ClipSpec spec;
  std::int64_t window = 0;  // frames the client holds (0: no flow control)
};
Result<WebJob> parse_web_job(std::string_view text);
// K of a {"played": K} message the client sends after the audio (web_render_protocol.h).
Result<std::int64_t> parse_web_played(std::string_view text);

// The header of output frame `index`'s binary message.
std::array<std::uint8_t, kFrameHeaderBytes> frame_header(std::int64_t index);

// The page (web/index.html).
std::string_view web_page_html();

}  // namespace lipsync::server
