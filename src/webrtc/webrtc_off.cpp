// webrtc/webrtc_peer.h in a build without GStreamer's development packages: WebRTC is off and
// says what to install; the page's WebSocket JPEG stream is the way to watch a session.
#include "webrtc/webrtc_peer.h"

namespace lipsync::webrtc {

struct Peer::Impl {};

bool available() {
  return false;
}

std::string unavailable_reason() {
  return "this lipsync was built without GStreamer (install libgstreamer-plugins-bad1.0-dev and "
         "the plugins scripts/setup.sh lists, then configure again)";
}

Peer::Peer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Peer::~Peer() = default;

Result<std::unique_ptr<Peer>> Peer::create(int, int, const IceOptions& ice, PeerCallbacks) {
  RETURN_IF_ERROR(check(ice));
  return make_error(ErrorCode::kFailedPrecondition, "WebRTC is off: {}", unavailable_reason());
}

Status Peer::set_answer(const std::string&) {
  return make_error(ErrorCode::kFailedPrecondition, "WebRTC is off: {}", unavailable_reason());
}

Status Peer::add_candidate(int, const std::string&) {
  return make_error(ErrorCode::kFailedPrecondition, "WebRTC is off: {}", unavailable_reason());
}

void Peer::push(const live::LiveFrame&) {}

PeerStats Peer::stats() const {
  return {};
}

}  // namespace lipsync::webrtc
