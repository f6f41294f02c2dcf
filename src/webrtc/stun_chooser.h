// Which of the configured STUN servers a new WebRTC peer uses. webrtcbin (libnice) takes one
// STUN server per peer, so the server asks each configured one in order with a STUN Binding
// request (RFC 5389) and gives new peers the first that answers: a STUN server that is down no
// longer costs every peer its public (server-reflexive) candidate. A thread asks again every
// `every`, so the choice follows servers going down and coming back; until the first round
// ends, and when none answers, the first configured server is used (as before).
//
//   StunChooser stun(config.webrtc.stun_servers);
//   ice.stun_servers = {stun.current()};
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace lipsync::webrtc {

struct StunProbeOptions {
  std::chrono::milliseconds timeout{500};  // per server, for an answer (one resend halfway)
  std::chrono::milliseconds every{60000};  // between rounds
};

// Whether the STUN server of `url` ("stun://host:port", checked) answers a Binding request
// within `timeout` (a success or an error response carrying the request's transaction id).
bool stun_answers(const std::string& url, std::chrono::milliseconds timeout);

class StunChooser {
 public:
  // With two or more servers, a round starts at once and then every `options.every`.
  explicit StunChooser(std::vector<std::string> urls, StunProbeOptions options = {});
  ~StunChooser();  // stops the thread (waits for the round in progress, at most the timeouts)
  StunChooser(const StunChooser&) = delete;
  StunChooser& operator=(const StunChooser&) = delete;

  // The server new peers use; empty when none is configured.
  std::string current() const;
  // Asks the servers in order now; returns (and keeps) the first that answered, else the first.
  std::string refresh();

 private:
  void run();

  const std::vector<std::string> urls_;
  const StunProbeOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::string current_;
  bool answered_ = true;  // the last round found one (logged when it changes)
  std::thread thread_;
};

}  // namespace lipsync::webrtc
