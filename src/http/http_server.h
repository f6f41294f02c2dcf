// A small HTTP/1.1 server (Boost.Beast underneath, not exposed) with a route table: health,
// metrics and small pages. Routes are data; handlers run on the server's own thread.
// WebSocket routes (http/websocket.h) take an upgraded connection over on a thread of their own.
//
//   ASSIGN_OR_RETURN(auto server, HttpServer::start("0.0.0.0", 8080,
//                                                   standard_routes(metrics, is_ready)));
#pragma once

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

class HttpServer {
 public:
  // Binds host:port (0 = any free port) and serves on a background thread. An upgrade request
  // for a path of `websockets` opens a WebSocket (at most kMaxWebSocketConnections at once).
  static Result<std::unique_ptr<HttpServer>> start(const std::string& host, int port, Routes routes,
                                                   WebSocketRoutes websockets = {});
  ~HttpServer();  // stops and joins
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const;
  // Closes open WebSockets and joins their handlers (they see closed()), then stops serving.
  void stop();

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// /health/live (200 while the process serves), /health/ready (200 once `ready()` is true, else
// 503) and /metrics (Prometheus text format).
Routes standard_routes(const Metrics& metrics, std::function<bool()> ready);

}  // namespace lipsync::http
