// The WebSocket /ws/live on the server's HTTP port: always-on avatar sessions for browsers
// (protocol: proto/web_live_protocol.h). Module-internal: included by server.cpp only.
#pragma once

#include <array>
#include <cstdint>

#include "http/websocket.h"
#include "live/live_session.h"
#include "proto/web_live_protocol.h"
#include "server/live_hub.h"
#include "server/service_context.h"

namespace lipsync::server {

// Adds WebSocket /ws/live (with WebRTC signalling when the build has it). `context` and `hub`
// must outlive the HTTP server. Errors: the webrtc section's ICE servers are not URLs.
Status add_live_routes(const ServiceContext& context, LiveHub& hub,
                       http::WebSocketRoutes& websockets);

// The header of a live frame's binary message.
std::array<std::uint8_t, proto::kLiveFrameHeaderBytes> live_frame_header(const live::LiveFrame& f);

}  // namespace lipsync::server
