// The ICE servers' handling shared by the builds with and without GStreamer: the browser's
// iceServers from the configured URLs, and the STUN chooser against fake STUN servers on
// loopback UDP.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "webrtc/stun_chooser.h"
#include "webrtc/webrtc_peer.h"

namespace lipsync::webrtc {
namespace {

using namespace std::chrono_literals;

// A UDP socket on 127.0.0.1 that answers STUN Binding requests with a success header (or, with
// `garbage`, with bytes that are no answer) until destroyed.
class FakeStunServer {
 public:
  explicit FakeStunServer(bool garbage = false) : garbage_(garbage) {
    fd_ = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    socklen_t size = sizeof address;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &size);
    port_ = ntohs(address.sin_port);
    timeval tick{.tv_sec = 0, .tv_usec = 20000};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof tick);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeStunServer() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  std::string url() const { return "stun://127.0.0.1:" + std::to_string(port_); }
  int requests() const { return requests_; }

 private:
  void serve() {
    while (!stop_) {
      std::uint8_t request[64];
      sockaddr_in from{};
      socklen_t size = sizeof from;
      const ssize_t got =
          recvfrom(fd_, request, sizeof request, 0, reinterpret_cast<sockaddr*>(&from), &size);
      if (got != 20 || request[0] != 0x00 || request[1] != 0x01) continue;
      ++requests_;
      std::uint8_t reply[20];
      std::memcpy(reply, request, 20);
      reply[0] = 0x01;  // Binding success response: same cookie and transaction id
      reply[1] = 0x01;
      if (garbage_) reply[10] ^= 0xff;  // another transaction
      sendto(fd_, reply, sizeof reply, 0, reinterpret_cast<sockaddr*>(&from), size);
    }
  }

  const bool garbage_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

// A loopback port with nobody listening.
std::string dead_url() {
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t size = sizeof address;
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  close(fd);
  return "stun://127.0.0.1:" + std::to_string(ntohs(address.sin_port));
}

TEST(BrowserIceServers, StunAndTurnUrlsAsABrowserWritesThem) {
  const auto servers = browser_ice_servers(
      {.stun_servers = {"stun://stun.example.org:3478", "stun://[2001:db8::1]:19302"},
       .turn_servers = {"turn://lipsync:s3cret@turn.example.org:3478",
                        "turns://u:p:q@relay.example.org:5349"}});
  ASSERT_EQ(servers.size(), 4u);
  EXPECT_EQ(servers[0].urls, "stun:stun.example.org:3478");
  EXPECT_EQ(servers[0].username, "");
  EXPECT_EQ(servers[1].urls, "stun:[2001:db8::1]:19302");
  EXPECT_EQ(servers[2].urls, "turn:turn.example.org:3478");
  EXPECT_EQ(servers[2].username, "lipsync");
  EXPECT_EQ(servers[2].credential, "s3cret");
  EXPECT_EQ(servers[3].urls, "turns:relay.example.org:5349");
  EXPECT_EQ(servers[3].username, "u");
  EXPECT_EQ(servers[3].credential, "p:q");
}

TEST(StunAnswers, OnlyAServerThatEchoesTheTransaction) {
  FakeStunServer good;
  FakeStunServer garbage(/*garbage=*/true);
  EXPECT_TRUE(stun_answers(good.url(), 500ms));
  EXPECT_FALSE(stun_answers(garbage.url(), 200ms));
  EXPECT_GE(garbage.requests(), 1);
  EXPECT_FALSE(stun_answers(dead_url(), 200ms));
}

TEST(StunChooser, NewPeersGetTheFirstServerThatAnswersAndTheChoiceFollowsThem) {
  const std::string dead = dead_url();
  auto second = std::make_unique<FakeStunServer>();
  const std::string second_url = second->url();
  StunChooser chooser({dead, second_url}, {.timeout = 200ms, .every = 1h});
  EXPECT_EQ(chooser.refresh(), second_url);
  EXPECT_EQ(chooser.current(), second_url);
  second.reset();  // down too: back to the first configured
  EXPECT_EQ(chooser.refresh(), dead);
  EXPECT_EQ(chooser.current(), dead);

  StunChooser none({}, {});
  EXPECT_EQ(none.current(), "");
  StunChooser one({dead}, {});
  EXPECT_EQ(one.current(), dead);  // one server: used without asking
}

TEST(StunChooser, TheBackgroundRoundPicksTheAnsweringServer) {
  FakeStunServer good;
  StunChooser chooser({dead_url(), good.url()}, {.timeout = 100ms, .every = 1h});
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (chooser.current() != good.url() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  EXPECT_EQ(chooser.current(), good.url());
}

}  // namespace
}  // namespace lipsync::webrtc
