// webrtc::Peer against a second webrtcbin (tests/support/webrtc_receiver.h) over loopback ICE:
// the offer, the answer and trickled candidates as the page exchanges them, then H.264 frames
// and Opus audio decoded on the receiving side; bad answers and candidates get errors; a real
// TURN server (coturn) gives a relay candidate.
#include "webrtc/webrtc_peer.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <sstream>
#include <thread>

#include "media/jpeg_codec.h"
#include "support/webrtc_receiver.h"

namespace lipsync::webrtc {
namespace {

using namespace std::chrono_literals;

constexpr int kWidth = 96;
constexpr int kHeight = 64;

live::Jpeg test_jpeg(int shade) {
  Image image(kWidth, kHeight);
  for (std::size_t i = 0; i < image.pixels.size(); ++i) {
    image.pixels[i] = static_cast<std::uint8_t>((i / 3 + shade) % 256);
  }
  auto jpeg = media::encode_jpeg(image.view(), {});
  EXPECT_TRUE(jpeg.ok());
  return std::make_shared<const std::vector<std::uint8_t>>(std::move(*jpeg));
}

live::LiveFrame frame_at(std::int64_t index) {
  live::LiveFrame frame;
  frame.index = index;
  frame.pts_ms = index * 40;
  static const live::Jpeg jpegs[2] = {test_jpeg(0), test_jpeg(90)};
  frame.jpeg = jpegs[index % 2];
  auto pcm = std::make_shared<std::vector<float>>(640);
  for (int i = 0; i < 640; ++i) {
    (*pcm)[i] = 0.3f * static_cast<float>(std::sin(2 * M_PI * 220 * (index * 640 + i) / 16000.0));
  }
  frame.pcm = std::move(pcm);
  return frame;
}

// A peer, its receiver and the signalling between them, with frames pushed at 25 fps.
class Call {
 public:
  explicit Call(IceOptions ice = {}) {
    receiver.on_candidate = [this](int index, const std::string& candidate) {
      std::lock_guard lock(mutex_);
      if (peer_) (void)peer_->add_candidate(index, candidate);
    };
    auto made = Peer::create(kWidth, kHeight, ice,
                             PeerCallbacks{.on_offer =
                                               [this](const std::string& sdp) {
                                                 std::lock_guard lock(mutex_);
                                                 offer_ = sdp;
                                                 changed_.notify_all();
                                               },
                                           .on_candidate =
                                               [this](int index, const std::string& candidate) {
                                                 {
                                                   std::lock_guard lock(mutex_);
                                                   candidates.push_back(candidate);
                                                 }
                                                 receiver.add_candidate(index, candidate);
                                               },
                                           .on_state =
                                               [this](const std::string& state) {
                                                 std::lock_guard lock(mutex_);
                                                 states.push_back(state);
                                               }});
    EXPECT_TRUE(made.ok()) << made.status().to_string();
    if (!made.ok()) return;
    std::lock_guard lock(mutex_);
    peer_ = std::move(*made);
    pusher_ = std::thread([this] {
      const auto start = std::chrono::steady_clock::now();
      for (std::int64_t i = 0; !stop_; ++i) {
        std::this_thread::sleep_until(start + i * 40ms);
        peer_->push(frame_at(i));
      }
    });
  }

  ~Call() {
    stop_ = true;
    if (pusher_.joinable()) pusher_.join();
    std::lock_guard lock(mutex_);
    peer_.reset();
  }

  std::string offer(std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, timeout, [this] { return !offer_.empty(); });
    return offer_;
  }

  bool has_candidate(const std::string& part) {
    std::lock_guard lock(mutex_);
    return std::any_of(candidates.begin(), candidates.end(),
                       [&](const std::string& c) { return c.find(part) != std::string::npos; });
  }

  bool has_state(const std::string& state) {
    std::lock_guard lock(mutex_);
    return std::find(states.begin(), states.end(), state) != states.end();
  }

  Peer& peer() { return *peer_; }
  bool ok() const { return peer_ != nullptr; }

  testing::WebRtcReceiver receiver;
  std::vector<std::string> candidates;
  std::vector<std::string> states;

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::string offer_;
  std::unique_ptr<Peer> peer_;
  std::atomic<bool> stop_{false};
  std::thread pusher_;
};

TEST(WebRtcPeer, IsAvailableInThisBuild) {
  EXPECT_TRUE(available()) << unavailable_reason();
}

TEST(WebRtcPeer, OffersH264AndOpusThenDeliversDecodableFramesAndAudio) {
  Call call;
  ASSERT_TRUE(call.ok());
  const std::string offer = call.offer();
  ASSERT_FALSE(offer.empty()) << "no offer within 5 s";
  EXPECT_NE(offer.find("m=video"), std::string::npos) << offer;
  EXPECT_NE(offer.find("H264/90000"), std::string::npos) << offer;
  EXPECT_NE(offer.find("profile-level-id=42"), std::string::npos) << "constrained baseline";
  EXPECT_NE(offer.find("OPUS/48000/2"), std::string::npos) << offer;
  EXPECT_NE(offer.find("a=sendonly"), std::string::npos);

  const auto start = std::chrono::steady_clock::now();
  const std::string answer = call.receiver.answer(offer);
  ASSERT_FALSE(answer.empty());
  ASSERT_TRUE(call.peer().set_answer(answer).ok());
  ASSERT_TRUE(call.receiver.wait_for([&] { return call.receiver.video_frames() >= 1; }, 10s))
      << "no video frame decoded within 10 s";
  const double first_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::printf("first decoded frame %.0f ms after the answer\n", first_ms);
  ASSERT_TRUE(call.receiver.wait_for(
      [&] { return call.receiver.video_frames() >= 25 && call.receiver.audio_buffers() >= 25; },
      10s))
      << call.receiver.video_frames() << " frames, " << call.receiver.audio_buffers()
      << " audio buffers";
  EXPECT_EQ(call.receiver.video_width(), kWidth);
  EXPECT_EQ(call.receiver.video_height(), kHeight);
  EXPECT_TRUE(call.has_state("connected"));
  const PeerStats stats = call.peer().stats();
  EXPECT_GT(stats.video_packets, 0);
  EXPECT_GT(stats.audio_packets, 0);
}

TEST(WebRtcPeer, CandidatesUseTheConfiguredPortRange) {
  Call call(IceOptions{.min_port = 47100, .max_port = 47120});
  ASSERT_TRUE(call.ok());
  const std::string offer = call.offer();
  ASSERT_FALSE(offer.empty());
  ASSERT_TRUE(call.peer().set_answer(call.receiver.answer(offer)).ok());
  ASSERT_TRUE(call.receiver.wait_for([&] { return call.receiver.video_frames() >= 5; }, 10s));
  ASSERT_FALSE(call.candidates.empty());
  int udp = 0;
  for (const std::string& candidate : call.candidates) {
    // candidate:FOUNDATION COMPONENT PROTO PRIORITY ADDRESS PORT typ ...
    std::istringstream in(candidate);
    std::string foundation, component, proto, priority, address;
    int port = 0;
    in >> foundation >> component >> proto >> priority >> address >> port;
    if (proto != "UDP") continue;
    ++udp;
    EXPECT_GE(port, 47100) << candidate;
    EXPECT_LE(port, 47120) << candidate;
  }
  EXPECT_GT(udp, 0) << "no UDP candidate";
}

TEST(WebRtcPeer, BadAnswersAndCandidatesAreRefusedWithReasons) {
  Call call;
  ASSERT_TRUE(call.ok());
  ASSERT_FALSE(call.offer().empty());
  auto refused = call.peer().set_answer("this is not SDP");
  EXPECT_EQ(refused.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(refused.message().find("not SDP"), std::string::npos) << refused.message();

  const std::string audio_only =
      "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
      "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:111 OPUS/48000/2\r\n";
  refused = call.peer().set_answer(audio_only);
  EXPECT_EQ(refused.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(refused.message().find("video"), std::string::npos) << refused.message();

  EXPECT_EQ(call.peer().add_candidate(0, "not a candidate").code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(call.peer().add_candidate(7, "candidate:1 1 UDP 1 127.0.0.1 9 typ host").code(),
            ErrorCode::kInvalidArgument);
  EXPECT_TRUE(call.peer().add_candidate(0, "").ok());  // the end of candidates

  // The peer still works after all of that.
  ASSERT_TRUE(call.peer().set_answer(call.receiver.answer(call.offer())).ok());
  EXPECT_TRUE(call.receiver.wait_for([&] { return call.receiver.video_frames() >= 5; }, 10s));
}

// A real TURN server for one test: Debian's coturn (`turnserver`, installed by scripts/setup.sh)
// on 127.0.0.1 with one long-term user, its log in a temporary file.
class TurnServer {
 public:
  TurnServer() {
    port_ = free_udp_port();
    log_ = std::filesystem::temp_directory_path() /
           ("lipsync-turn-" + std::to_string(::getpid()) + ".log");
    std::filesystem::remove(log_);
    // Made before fork(): the child of a threaded process only calls exec.
    const std::string port = "--listening-port=" + std::to_string(port_);
    const std::string log = "--log-file=" + log_.string();
    const std::string pid_file = "--pidfile=" + log_.string() + ".pid";
    const std::string users = "--userdb=" + log_.string() + ".db";
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execlp("turnserver", "turnserver", "-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1",
               port.c_str(), "--min-port=49400", "--max-port=49499", "--lt-cred-mech",
               "--user=lipsync:secret", "--realm=lipsync", "--allow-loopback-peers", "--no-cli",
               "--no-tls", "--no-dtls", "--simple-log", log.c_str(), static_cast<char*>(nullptr));
      std::_Exit(127);  // no turnserver
    }
  }
  ~TurnServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
    for (const char* suffix : {"", ".pid", ".db"}) std::filesystem::remove(log_.string() + suffix);
  }
  // Waits until it answers a STUN binding request on its port; false when it did not.
  bool ready(std::chrono::milliseconds timeout = 5s) {
    const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    timeval wait{.tv_sec = 0, .tv_usec = 100000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof(wait));
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(static_cast<std::uint16_t>(port_));
    // RFC 5389: Binding Request, no attributes, the magic cookie, a transaction id.
    const std::uint8_t request[20] = {0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42, 1,  2,
                                      3,    4,    5,    6,    7,    8,    9,    10,   11, 12};
    bool answered = false;
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (!answered && std::chrono::steady_clock::now() < until) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;  // exited: not installed (scripts/setup.sh installs coturn) or refused
        break;
      }
      ::sendto(fd, request, sizeof(request), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to));
      std::uint8_t reply[512];
      answered = ::recv(fd, reply, sizeof(reply), 0) >= 20 && reply[0] == 0x01 && reply[1] == 0x01;
    }
    ::close(fd);
    return answered;
  }
  int port() const { return port_; }

 private:
  static int free_udp_port() {
    const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    ::close(fd);
    return ntohs(address.sin_port);
  }

  int port_ = 0;
  pid_t pid_ = -1;
  std::filesystem::path log_;
};

// webrtc.turn_servers reaches a real TURN server: the peer authenticates, allocates a relay
// address (a "typ relay" candidate) and the call still streams.
TEST(WebRtcPeer, AConfiguredTurnServerGivesARelayCandidate) {
  TurnServer turn;
  ASSERT_TRUE(turn.ready()) << "turnserver (Debian's coturn, scripts/setup.sh) did not start";
  Call call(IceOptions{
      .turn_servers = {"turn://lipsync:secret@127.0.0.1:" + std::to_string(turn.port())}});
  ASSERT_TRUE(call.ok());
  const std::string offer = call.offer();
  ASSERT_FALSE(offer.empty());
  ASSERT_TRUE(call.peer().set_answer(call.receiver.answer(offer)).ok());
  ASSERT_TRUE(call.receiver.wait_for([&] { return call.receiver.video_frames() >= 5; }, 10s));
  bool relay = false;
  for (int i = 0; i < 100 && !relay; ++i) {  // the allocation may come after the host ones
    relay = call.has_candidate(" typ relay");
    if (!relay) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(relay) << "no relay candidate from the TURN server at 127.0.0.1:" << turn.port();
}

TEST(WebRtcPeer, IceOptionsAreChecked) {
  EXPECT_TRUE(check({.stun_servers = {"stun://stun.example.org:3478"},
                     .turn_servers = {"turn://u:p@turn.example.org:3478"},
                     .min_port = 40000,
                     .max_port = 40099})
                  .ok());
  EXPECT_FALSE(check({.stun_servers = {"stun.example.org"}}).ok());
  EXPECT_FALSE(check({.turn_servers = {"turn://turn.example.org:3478"}}).ok());  // no user
  EXPECT_FALSE(check({.min_port = 40100, .max_port = 40000}).ok());
  auto peer = Peer::create(97, 64, {}, {});
  ASSERT_FALSE(peer.ok());
  EXPECT_NE(peer.status().message().find("even"), std::string::npos);
}

}  // namespace
}  // namespace lipsync::webrtc
