// The STUN probe and the chooser, shared by the builds with and without GStreamer.
#include "webrtc/stun_chooser.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <random>

#include "core/log.h"

namespace lipsync::webrtc {
namespace {

// RFC 5389 §6: a Binding request is a 20-byte header and nothing else. Written here because
// only the header is needed, and libnice's STUN API is not in Debian's runtime packages.
constexpr std::size_t kStunHeaderBytes = 20;
constexpr std::uint32_t kMagicCookie = 0x2112A442;
constexpr std::uint16_t kBindingRequest = 0x0001;
constexpr std::uint16_t kBindingSuccess = 0x0101;
constexpr std::uint16_t kBindingError = 0x0111;

using Header = std::array<std::uint8_t, kStunHeaderBytes>;

Header binding_request() {
  Header header{};
  header[0] = kBindingRequest >> 8;
  header[1] = kBindingRequest & 0xff;  // bytes 2-3: length 0
  for (int b = 0; b < 4; ++b)
    header[4 + b] = static_cast<std::uint8_t>(kMagicCookie >> (24 - 8 * b));
  std::random_device random;
  for (std::size_t b = 8; b < kStunHeaderBytes; ++b)
    header[b] = static_cast<std::uint8_t>(random());  // the transaction id
  return header;
}

bool answers(const Header& request, const std::uint8_t* reply, std::size_t size) {
  if (size < kStunHeaderBytes) return false;
  const auto type = static_cast<std::uint16_t>((reply[0] << 8) | reply[1]);
  return (type == kBindingSuccess || type == kBindingError) &&
         std::memcmp(reply + 4, request.data() + 4, 16) == 0;  // cookie and transaction id
}

// "stun://host:port" -> host, port; [v6] hosts lose their brackets.
std::pair<std::string, std::string> host_port(const std::string& url) {
  const std::string rest = url.substr(url.find("://") + 3);
  const auto colon = rest.rfind(':');
  std::string host = rest.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  return {host, rest.substr(colon + 1)};
}

bool probe(const addrinfo& address, std::chrono::milliseconds timeout) {
  const int fd = socket(address.ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  bool answered = false;
  if (connect(fd, address.ai_addr, address.ai_addrlen) == 0) {
    const Header request = binding_request();
    const int half = static_cast<int>(timeout.count() / 2) + 1;
    for (int attempt = 0; attempt < 2 && !answered; ++attempt) {  // one resend: UDP may lose it
      if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) < 0) break;
      pollfd ready{.fd = fd, .events = POLLIN, .revents = 0};
      while (!answered && poll(&ready, 1, half) > 0) {
        std::array<std::uint8_t, 1500> reply{};
        const ssize_t got = recv(fd, reply.data(), reply.size(), 0);
        if (got < 0) break;  // e.g. ICMP port unreachable: nobody there
        answered = answers(request, reply.data(), static_cast<std::size_t>(got));
      }
    }
  }
  close(fd);
  return answered;
}

}  // namespace

bool stun_answers(const std::string& url, std::chrono::milliseconds timeout) {
  const auto [host, port] = host_port(url);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* addresses = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &addresses) != 0) return false;
  bool answered = false;
  for (const addrinfo* a = addresses; a != nullptr && !answered; a = a->ai_next)
    answered = probe(*a, timeout);
  freeaddrinfo(addresses);
  return answered;
}

StunChooser::StunChooser(std::vector<std::string> urls, StunProbeOptions options)
    : urls_(std::move(urls)), options_(options) {
  if (!urls_.empty()) current_ = urls_.front();
  if (urls_.size() >= 2) thread_ = std::thread([this] { run(); });
}

StunChooser::~StunChooser() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::string StunChooser::current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

std::string StunChooser::refresh() {
  std::string chosen = urls_.empty() ? std::string() : urls_.front();
  bool any = false;
  for (const auto& url : urls_) {
    if (stun_answers(url, options_.timeout)) {
      chosen = url;
      any = true;
      break;
    }
  }
  std::lock_guard lock(mutex_);
  if (chosen != current_ || any != answered_) {
    if (any) {
      LOG_INFO("webrtc", "STUN: new peers use {} (the first that answers)", chosen);
    } else {
      LOG_WARN("webrtc", "STUN: none of the {} servers answered; new peers use {}", urls_.size(),
               chosen);
    }
  }
  current_ = chosen;
  answered_ = any;
  return chosen;
}

void StunChooser::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    refresh();
    lock.lock();
    stop_cv_.wait_for(lock, options_.every, [&] { return stopping_; });
  }
}

}  // namespace lipsync::webrtc
