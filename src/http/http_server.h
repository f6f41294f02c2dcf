// A small HTTP/1.1 server (Boost.Beast underneath, not exposed) with a route table: health,
// metrics and small pages. Routes are data; handlers run on the server's own thread.
// WebSocket routes (http/websocket.h) take an upgraded connection over on a thread of their own.
//
//   ASSIGN_OR_RETURN(auto server, HttpServer::start("0.0.0.0", 8080,
//                                                   standard_routes(metrics, is_ready)));
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "core/status.h"
#include "http/metrics.h"
#include "http/websocket.h"

namespace lipsync::http {

struct HttpRequest {
  std::string method;  // "GET", ...
  std::string target;  // path and query, e.g. "/metrics"
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

using Handler = std::function<HttpResponse(const HttpRequest&)>;
using Routes = std::map<std::string, Handler>;  // exact path -> handler (GET and HEAD)

// What one client may hold of the server, so that no client can lock others out
// (docs/security.md). The defaults are the configuration's (core/config.h ServerSection).
struct ConnectionLimits {
  // An HTTP request must be complete this long after the connection opened or the previous
  // answer was sent (a keep-alive connection waits this long for its next request).
  std::chrono::milliseconds request_timeout{30'000};
  // A WebSocket whose first whole message has not arrived this long after the upgrade is
  // closed (policy violation, with the reason).
  std::chrono::milliseconds first_message_timeout{10'000};
  // A WebSocket with no message either way for this long is closed; pings do not count.
  std::chrono::milliseconds idle_timeout{60'000};
  // The closing handshake: a peer that does not answer the close frame within this is dropped.
  std::chrono::milliseconds close_timeout{5'000};
  std::size_t max_websockets = 32;  // open at once (one handler thread each); more get 503
  std::size_t max_per_client = 16;  // open connections per remote address; more get 429; 0: any
};

class HttpServer {
 public:
  // Binds host:port (0 = any free port) and serves on a background thread. An upgrade request
  // for a path of `websockets` opens a WebSocket. A malformed request is answered 400 (413 for
  // a body over 64 KiB, 431 for headers over 8 KiB) and the connection closed.
  static Result<std::unique_ptr<HttpServer>> start(const std::string& host, int port, Routes routes,
                                                   WebSocketRoutes websockets = {},
                                                   ConnectionLimits limits = {});
  ~HttpServer();  // stops and joins
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const;
  // Shuts WebSockets down: their handlers' receive() answers UNAVAILABLE with `reason` (sends
  // still work, so a handler can say why) and each connection ends with a close frame
  // "going away" carrying `reason`. Handlers still running after `grace` have their
  // connections dropped (they see closed()); then all are joined and serving stops.
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(0),
            const std::string& reason = "the server is shutting down");
  // stop()'s WebSocket half alone: HTTP routes keep serving (e.g. /health/ready answering 503
  // while the rest of the server drains); new WebSockets are refused with 503.
  void close_websockets(std::chrono::milliseconds grace, const std::string& reason);

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// /health/live (200 while the process serves), /health/ready (200 once `ready()` is true, else
// 503) and /metrics (Prometheus text format).
Routes standard_routes(const Metrics& metrics, std::function<bool()> ready);

}  // namespace lipsync::http
