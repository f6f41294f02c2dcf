// The ICE options' checks, shared by the builds with and without GStreamer.
#include "webrtc/webrtc_peer.h"

namespace lipsync::webrtc {
namespace {

Status check_url(const std::string& url, bool turn) {
  const char* schemes = turn ? "turn:// or turns://" : "stun://";
  const bool scheme_ok =
      turn ? url.starts_with("turn://") || url.starts_with("turns://") : url.starts_with("stun://");
  const std::string rest =
      url.substr(url.find("://") == std::string::npos ? 0 : url.find("://") + 3);
  const auto at = rest.rfind('@');
  const std::string host_port = at == std::string::npos ? rest : rest.substr(at + 1);
  const auto colon = host_port.rfind(':');
  const bool port_ok = colon != std::string::npos && colon > 0 && colon + 1 < host_port.size() &&
                       host_port.find_first_not_of("0123456789", colon + 1) == std::string::npos;
  if (!scheme_ok || !port_ok || (turn && at == std::string::npos)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "'{}' is not a {} server URL: write {}{}host:port", url.substr(0, 200),
                      turn ? "TURN" : "STUN", schemes, turn ? "user:password@" : "");
  }
  return {};
}

}  // namespace

Status check(const IceOptions& options) {
  for (const auto& url : options.stun_servers) RETURN_IF_ERROR(check_url(url, false));
  for (const auto& url : options.turn_servers) RETURN_IF_ERROR(check_url(url, true));
  const int max_port = options.max_port == 0 ? 65535 : options.max_port;
  if (options.min_port < 0 || max_port > 65535 || options.min_port > max_port) {
    return make_error(ErrorCode::kInvalidArgument,
                      "UDP port range {}..{} is not a range of ports (0..65535, min <= max)",
                      options.min_port, options.max_port);
  }
  return {};
}

std::vector<BrowserIceServer> browser_ice_servers(const IceOptions& options) {
  std::vector<BrowserIceServer> servers;
  for (const auto& url : options.stun_servers) {
    servers.push_back({.urls = "stun:" + url.substr(url.find("://") + 3)});
  }
  for (const auto& url : options.turn_servers) {
    const auto scheme_end = url.find("://");
    const std::string rest = url.substr(scheme_end + 3);
    const auto at = rest.rfind('@');
    const std::string user_password = rest.substr(0, at);
    const auto colon = user_password.find(':');
    servers.push_back(
        {.urls = url.substr(0, scheme_end) + ":" + rest.substr(at + 1),
         .username = user_password.substr(0, colon),
         .credential = colon == std::string::npos ? "" : user_password.substr(colon + 1)});
  }
  return servers;
}

}  // namespace lipsync::webrtc
