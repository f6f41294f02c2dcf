// The keys of the `webrtc` and `live` sections: live sessions' WebRTC transport and pacing.
#include "core/config_schema_sections.h"

namespace lipsync::schema {

std::vector<ConfigKey> webrtc_keys() {
  return {
      boolean("webrtc.enabled", TOP(webrtc.enabled),
              "Offer live sessions over WebRTC (H.264 + Opus) when the build has GStreamer; "
              "the page falls back to JPEG frames over `/ws/live` when off.",
              "false"),
      list("webrtc.stun_servers", TOP(webrtc.stun_servers),
           "STUN servers, comma-separated `stun://HOST:PORT`; the server learns its public "
           "address from the first that answers (it asks each in order every 60 s with a STUN "
           "Binding request: one that is down is skipped). The page gets the whole list for "
           "its own `RTCPeerConnection`. Empty: host candidates only (same network, or a port "
           "range forwarded to this machine).",
           "\"stun://stun.example.org:3478\""),
      list("webrtc.turn_servers", TOP(webrtc.turn_servers),
           "TURN relays, comma-separated `turn://USER:PASSWORD@HOST:PORT` (or `turns://` over "
           "TLS); media goes through them when no direct path works (symmetric NAT).",
           "\"turn://lipsync:secret@turn.example.org:3478\""),
      integer("webrtc.min_port", TOP(webrtc.min_port), 0, 65535,
              "Lowest local UDP port ICE uses; 0: any. One port per viewer (audio and video "
              "are bundled).",
              "40000"),
      integer("webrtc.max_port", TOP(webrtc.max_port), 0, 65535,
              "Highest local UDP port ICE uses; 0: 65535. Open `min_port`..`max_port` UDP "
              "in the firewall.",
              "40099"),
      integer("webrtc.max_peers", TOP(webrtc.max_peers), 0, 10000,
              "WebRTC viewers at once on this server (each encodes H.264 on a CPU core); one "
              "more is answered RESOURCE_EXHAUSTED and keeps the JPEG stream.",
              "32"),
  };
}

std::vector<ConfigKey> live_keys() {
  return {
      integer("live.lead_frames", TOP(live.lead_frames), 1, 50,
              "A live session submits each frame for rendering this many frame periods (40 ms) "
              "before it is due and shows it when due: the time the renderer has per frame, and "
              "part of speech-to-mouth latency (the first speech frame is the first one not yet "
              "planned when the audio arrives; idle frames already rendered are planned one "
              "period later, so speech starting on them has one period less). 1 suits a GPU "
              "that renders a batch well within 40 ms (40 ms less latency); 2 leaves room for a "
              "busy GPU or the CPU; 3 also absorbs audio 40 ms late from an utterance's start "
              "without a jitter buffer. A session more than this many frames behind the clock "
              "skips frames to catch up.",
              "1"),
      integer("live.max_jitter_buffer_ms", TOP(live.max_jitter_buffer_ms), 0, 2000,
              "A live session measures how late speech audio arrives against its own pace; a "
              "new utterance's first frame waits for the lateness of the last four utterances "
              "(less what the lead absorbs where it starts, in whole frames), at most this "
              "long, so that audio as late leaves no gap in it (docs/api.md). 0: speech never "
              "waits (a network that delays chunks then shows idle frames inside utterances).",
              "120"),
  };
}

}  // namespace lipsync::schema
