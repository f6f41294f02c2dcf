// The WebSocket side of the HTTP server: the routes, one handler thread per open connection,
// the cap on open connections and the shutdown with a grace period. Module-internal.
#pragma once

#include <chrono>
#include <condition_variable>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "http/http_server.h"
#include "http/websocket.h"
#include "http/websocket_session.h"

namespace lipsync::http::detail {

class WebSocketHub {
 public:
  WebSocketHub(WebSocketRoutes routes, const ConnectionLimits& limits)
      : routes_(std::move(routes)), limits_(limits) {}
  ~WebSocketHub() { stop(std::chrono::milliseconds(0), "the server is shutting down"); }

  const WebSocketRoute* find(const std::string& path) const;
  // Why a new connection cannot be opened now (the answer's status and text), or 0 when it can.
  std::pair<int, std::string> refusal();
  // A session for an upgraded connection of `route`; `ticket` is the per-client count's.
  std::shared_ptr<WebSocketSession> make_session(boost::asio::ip::tcp::socket socket,
                                                 const WebSocketRoute& route,
                                                 std::shared_ptr<void> ticket);
  // io thread, once a connection is open: its handler gets a thread (none after stop()).
  void open(const std::shared_ptr<WebSocketSession>& session);
  // Tells every handler to finish (WebSocketSession::shut_down), waits up to `grace` for the
  // handlers to return and their connections to close, drops what is left and joins.
  void stop(std::chrono::milliseconds grace, const std::string& reason);

 private:
  struct Handler {
    std::thread thread;
    std::weak_ptr<WebSocketSession> session;
    bool done = false;
  };

  void reap_locked();
  bool all_finished_locked() const;

  const WebSocketRoutes routes_;
  const ConnectionLimits limits_;
  std::mutex mutex_;
  std::condition_variable changed_;  // a handler returned or a connection closed
  std::list<Handler> handlers_;
  bool stopped_ = false;
};

}  // namespace lipsync::http::detail
