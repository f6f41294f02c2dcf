// A client of the browser demo's WebSocket /ws/render (protocol: proto/web_render_protocol.h):
// uploads an audio file, receives the frames in order, checks them and measures arrival times. The
// engine of `lipsync web-client`; tests use it too.
//
//   ASSIGN_OR_RETURN(WebRenderStats stats,
//                    render_over_websocket({.host = "127.0.0.1", .port = 8080, .model_id = "demo"},
//                                          file_bytes, [](const WebFrame& f) { ...; return
//                                          Status{}; }));
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"

namespace lipsync::client {

struct WebRenderRequest {
  std::string host = "127.0.0.1";
  int port = 8080;  // the server's HTTP port
  std::string model_id;
  std::string sequence;  // empty: the server's default (ping_pong)
  std::int64_t start_frame = 0;
};

struct WebFrame {
  std::int64_t index = 0;
  std::int64_t timestamp_ms = 0;
  std::span<const std::uint8_t> jpeg;
};

struct WebRenderStats {
  std::int64_t frames = 0;
  int width = 0;
  int height = 0;
  double first_frame_ms = 0;       // from sending the audio to the first frame
  double total_ms = 0;             // from sending the audio to {"done"}
  double server_ms = 0;            // the server's own "ms"
  std::vector<double> arrival_ms;  // per frame, from sending the audio
};

// Called per frame, in order; an error stops the render (the connection is closed).
using WebFrameSink = std::function<Status(const WebFrame& frame)>;

// Errors: the server's {"error": "CODE: text"} as a Status with that code; DATA_LOSS when frames
// come out of order, malformed, or fewer than announced; UNAVAILABLE when the connection fails.
Result<WebRenderStats> render_over_websocket(const WebRenderRequest& request,
                                             std::span<const std::uint8_t> audio_file,
                                             const WebFrameSink& sink = {});

}  // namespace lipsync::client
