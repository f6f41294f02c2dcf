// A build without GStreamer: WebRTC says it is off and what to install; nothing crashes.
#include <gtest/gtest.h>

#include "webrtc/webrtc_peer.h"

namespace lipsync::webrtc {
namespace {

TEST(WebRtcOff, SaysWhatToInstall) {
  EXPECT_FALSE(available());
  EXPECT_NE(unavailable_reason().find("libgstreamer-plugins-bad1.0-dev"), std::string::npos);
  auto peer = Peer::create(64, 48, {}, {});
  ASSERT_FALSE(peer.ok());
  EXPECT_EQ(peer.status().code(), ErrorCode::kFailedPrecondition);
}

}  // namespace
}  // namespace lipsync::webrtc
