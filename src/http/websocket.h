// WebSocket endpoints of the HTTP server, without Beast in sight: a route table maps a path to a
// handler that runs on its own thread with a blocking connection interface. The server does the
// handshake, the framing, the size limit, keep-alive pings and the closing handshake.
//
//   WebSocketRoutes routes;
//   routes["/ws/echo"] = {.handler = [](WebSocketConnection& ws) {
//     while (auto message = ws.receive()) ... ws.send_text(message->data);
//   }, .max_message_bytes = 1 << 20};
//   HttpServer::start("0.0.0.0", 8080, http_routes, std::move(routes));
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>

#include "core/status.h"

namespace lipsync::http {

struct WebSocketMessage {
  bool binary = false;
  std::string data;  // the whole message (text is UTF-8)
};

// One accepted WebSocket connection, as its handler sees it. Every call blocks the handler's
// thread only; all of them are safe to call from that thread while the server serves others.
class WebSocketConnection {
 public:
  virtual ~WebSocketConnection() = default;

  // The next whole message. Errors: UNAVAILABLE once the peer closed, the connection timed out
  // or the server stops (then sends still work until the handler returns: it may say why);
  // RESOURCE_EXHAUSTED for a message over the route's limit (its bytes are discarded as they
  // arrive, and the connection stays usable).
  virtual Result<WebSocketMessage> receive() = 0;
  // Queue a message for sending; blocks while too much is already queued (back-pressure).
  // UNAVAILABLE once the connection is closed.
  virtual Status send_text(std::string_view text) = 0;
  virtual Status send_binary(std::span<const std::uint8_t> bytes) = 0;
  // True once the peer closed, the transport failed or the server is stopping.
  virtual bool closed() const = 0;
};

// Runs on a thread of its own for the connection's life; when it returns, the server sends
// what is queued and closes the connection (normal closure).
using WebSocketHandler = std::function<void(WebSocketConnection&)>;

struct WebSocketRoute {
  WebSocketHandler handler;
  std::size_t max_message_bytes = std::size_t{1} << 20;  // larger messages are refused
  // The first message's limit when smaller (0: max_message_bytes): a small JSON job is refused
  // as soon as it grows past this, before anything parses it.
  std::size_t max_first_message_bytes = 0;
};

using WebSocketRoutes = std::map<std::string, WebSocketRoute>;  // exact path -> route

}  // namespace lipsync::http
