// One browser watching a live session over WebRTC (issue 15): the session's JPEG frames and
// 16 kHz PCM, encoded as H.264 (x264, constrained baseline, zero latency, a key frame every 2 s)
// and Opus, sent over RTP with DTLS-SRTP through GStreamer's webrtcbin (ICE by libnice).
//
// The server offers and the browser answers (docs/api.md, "WebRTC"): create() builds the
// pipeline, waits for the first frame's caps and hands the offer to `on_offer`; the browser's
// answer goes to set_answer(), candidates trickle both ways (`on_candidate`, add_candidate()).
// Frames go in with push(), which never blocks (a peer that falls behind loses old frames).
// Audio and video carry the frames' presentation times, so the browser plays them in sync.
//
// Built with GStreamer when its development packages are found (LIPSYNC_WITH_WEBRTC); without
// them available() is false and create() answers FAILED_PRECONDITION with what to install.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "live/live_session.h"

namespace lipsync::webrtc {

// Whether this build has WebRTC; else the reason and what to install.
bool available();
std::string unavailable_reason();

struct IceOptions {
  // "stun://host:port"; webrtcbin uses one STUN server, the first (the server gives it the
  // first that answers: stun_chooser.h).
  std::vector<std::string> stun_servers;
  // "turn://user:password@host:port" or "turns://..." (TURN over TLS); all are used.
  std::vector<std::string> turn_servers;
  // Local UDP ports for ICE, inclusive (libnice); min 0: from 1; max 0: up to 65535.
  int min_port = 0;
  int max_port = 0;
};

// Checks the URLs and the port range; the error names the bad entry.
Status check(const IceOptions& options);

// One entry of a browser's RTCPeerConnection `iceServers` (W3C RTCIceServer).
struct BrowserIceServer {
  std::string urls;        // "stun:host:port", "turn:host:port", "turns:host:port"
  std::string username;    // TURN only
  std::string credential;  // TURN only
};
// The STUN and TURN servers of checked `options` as a browser writes them, so that the page
// gathers candidates through the same servers as the server does.
std::vector<BrowserIceServer> browser_ice_servers(const IceOptions& options);

struct PeerCallbacks {
  std::function<void(const std::string& sdp)> on_offer;
  std::function<void(int mline_index, const std::string& candidate)> on_candidate;
  // "connecting", "connected", "failed", "closed" (ICE and DTLS together); any thread.
  std::function<void(const std::string& state)> on_state;
};

struct PeerStats {
  std::int64_t frames_in = 0;      // pushed
  std::int64_t video_packets = 0;  // RTP packets out of the H.264 payloader
  std::int64_t audio_packets = 0;  // RTP packets out of the Opus payloader
};

class Peer {
 public:
  // Starts the pipeline for frames of `width`×`height`. `on_offer` is called once the first
  // frame pushed has set the codecs (so the offer carries the H.264 profile the encoder makes).
  static Result<std::unique_ptr<Peer>> create(int width, int height, const IceOptions& ice,
                                              PeerCallbacks callbacks);
  ~Peer();  // stops the pipeline
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  // The browser's answer. INVALID_ARGUMENT when it is not SDP, is not an answer to our offer
  // (no video or audio m-line, or one it rejected), or webrtcbin refuses it.
  Status set_answer(const std::string& sdp);
  // A remote ICE candidate ("candidate:..." as the browser gives it); an empty one ends them.
  Status add_candidate(int mline_index, const std::string& candidate);

  // A frame of the session: its JPEG and its 640 samples of audio, at its pts. Never blocks.
  void push(const live::LiveFrame& frame);

  PeerStats stats() const;

  struct Impl;

 private:
  explicit Peer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace lipsync::webrtc
