// The client's messages on the WebSocket /ws/live (proto/web_live_protocol.h), parsed apart from
// the connection that acts on them (server/web_live.cpp), so that they are tested and fuzzed
// (fuzz/ws_messages_fuzzer.cpp) without a server. Module-internal: included by src/server only.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/timeline.h"
#include "http/websocket.h"
#include "server/live_hub.h"

namespace lipsync::server {

enum class PcmFormat { kS16, kF32 };

// The first message: open a session on a model, or join one another connection opened.
struct LiveOpening {
  std::optional<LiveRequest> open;  // set: open a session
  std::string join;                 // else: join this one
  PcmFormat format = PcmFormat::kS16;
  int sample_rate_hz = timeline::kSampleRateHz;
  int channels = 1;
};
// INVALID_ARGUMENT names what is wrong (not JSON text, a field's type or range, no model).
Result<LiveOpening> parse_live_opening(const http::WebSocketMessage& message);

// A text message during a session.
struct LiveCommand {
  enum class Kind {
    kInterrupt,        // {"interrupt": true}
    kEnd,              // {"end": true}
    kWebRtcStart,      // {"type": "webrtc-start"}
    kWebRtcStop,       // {"type": "webrtc-stop"}
    kWebRtcAnswer,     // {"type": "webrtc-answer", "sdp": ...}
    kWebRtcCandidate,  // {"type": "webrtc-candidate", "candidate": ..., "sdpMLineIndex": N}
    kWebRtcRefused,    // any other "type": `problem` says why
  };
  Kind kind = Kind::kEnd;
  std::string sdp;          // kWebRtcAnswer
  std::string candidate;    // kWebRtcCandidate
  int sdp_mline_index = 0;  // kWebRtcCandidate
  // kWebRtcRefused; kWebRtcAnswer/kWebRtcCandidate whose fields are missing or of the wrong
  // type (the connection answers that there is no offer first, when there is none). A message
  // with a "type" is answered with a webrtc-error, not an error.
  Status problem;
};
// A message with neither a "type" nor "interrupt"/"end" set to true (the JSON boolean) is
// INVALID_ARGUMENT, naming the messages there are.
Result<LiveCommand> parse_live_command(std::string_view text);

// Little-endian PCM of the declared format, interleaved, to floats. INVALID_ARGUMENT when the
// bytes are not a whole number of samples of every channel. `channels` ≥ 1.
Result<std::vector<float>> live_pcm_samples(std::string_view bytes, PcmFormat format, int channels);

}  // namespace lipsync::server
