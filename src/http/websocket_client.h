// A blocking WebSocket client (Boost.Beast underneath, not exposed), for tools and tests that
// talk to WebSocket routes.
//
//   ASSIGN_OR_RETURN(auto ws, WebSocketClient::connect("127.0.0.1", 8080, "/ws/render"));
//   RETURN_IF_ERROR(ws->send_text(R"({"model": "demo"})"));
//   ASSIGN_OR_RETURN(WebSocketMessage reply, ws->receive());
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "core/status.h"
#include "http/websocket.h"

namespace lipsync::http {

class WebSocketClient {
 public:
  // Connects to host:port and opens `path`. UNAVAILABLE when the server cannot be reached or
  // refuses the upgrade (e.g. 404 for an unknown path).
  static Result<std::unique_ptr<WebSocketClient>> connect(const std::string& host, int port,
                                                          const std::string& path);
  ~WebSocketClient();
  WebSocketClient(const WebSocketClient&) = delete;
  WebSocketClient& operator=(const WebSocketClient&) = delete;

  Status send_text(std::string_view text);
  Status send_binary(std::span<const std::uint8_t> bytes);
  // The next message; UNAVAILABLE once the server closed the connection.
  Result<WebSocketMessage> receive();
  Status close();

 private:
  struct Impl;
  explicit WebSocketClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace lipsync::http
