// The browser's WebSocket /ws/live protocol (served by server/web_live.h): an always-on avatar.
//   client -> {"model": "ID", "idle": "silent_model"|"source", "sample_rate": 16000,
//              "channels": 1, "format": "s16"|"f32", "silence_threshold_dbfs": -45}
//             (text; all but "model" optional) — opens a session; or {"join": "SESSION"} to
//             watch (and talk to) a session another connection opened
//   server -> {"session": "SESSION", "width": W, "height": H, "fps": 25,
//              "lookahead_ms": 452.5, "webrtc": true, "ice_servers": [{"urls": "stun:H:P"},
//              {"urls": "turn:H:P", "username": "U", "credential": "P"}]}       (text; ice_servers:
//             the server's STUN/TURN list as RTCPeerConnection iceServers)
//   server -> one binary message per frame, 40 ms apart, from the next frame on:
//             kLiveFrameHeaderBytes of header (uint32 LE frame index, uint32 LE presentation
//             time in ms since the session opened, uint32 LE utterance: 0 while idle) then the
//             frame's JPEG. A client that reads too slowly loses the oldest frames, not the
//             newest.
//   client -> binary: speech audio, little-endian PCM in the declared format, rate and
//             channels (interleaved), any chunk size, at any pace
//   client -> {"end": true}        the speech sent so far is complete (no need to wait for
//                                   the gap that ends an utterance)
//   client -> {"interrupt": true}  drop the speech not yet shown; idle resumes at once
//   server -> {"error": "CODE: text"} for a bad message (the session goes on) or a failure to
//             open (the connection then closes)
//   WebRTC on the same socket (docs/api.md "WebRTC"), messages with a "type":
//   client -> {"type": "webrtc-start"}, {"type": "webrtc-answer", "sdp": ...},
//             {"type": "webrtc-candidate", "candidate": ..., "sdpMLineIndex": N},
//             {"type": "webrtc-stop"}
//   server -> {"type": "webrtc-offer", "sdp": ...}, {"type": "webrtc-candidate", ...},
//             {"type": "webrtc-state", "state": ...}, {"type": "webrtc-error", "error": ...},
//             and while WebRTC plays, instead of JPEG frames:
//             {"type": "frame", "index": N, "pts_ms": T, "utterance": U}
// The session ends when its last connection closes.
#pragma once

#include <cstddef>

namespace lipsync::proto {

inline constexpr std::size_t kLiveFrameHeaderBytes = 12;

}  // namespace lipsync::proto
