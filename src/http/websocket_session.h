// One WebSocket connection of the HTTP server (Beast underneath). Module-internal: included by
// http_server.cpp only; other modules see http/websocket.h.
//
// Threads: Beast operations run on the server's io thread; the route's handler runs on a
// thread of its own and talks to the io thread through a small inbox and a bounded outbox.
#pragma once

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>

#include "http/websocket.h"

namespace lipsync::http::detail {

// Received messages waiting for the handler; reading pauses when this many are queued.
inline constexpr std::size_t kMaxInboxMessages = 4;
// Bytes queued for sending before send_text/send_binary block.
inline constexpr std::size_t kMaxOutboxBytes = std::size_t{8} << 20;

class WebSocketSession final : public WebSocketConnection,
                               public std::enable_shared_from_this<WebSocketSession> {
 public:
  using Request = boost::beast::http::request<boost::beast::http::string_body>;
  using OpenCallback = std::function<void(std::shared_ptr<WebSocketSession>)>;

  WebSocketSession(boost::asio::ip::tcp::socket socket, const WebSocketRoute& route);

  // io thread: answers the upgrade `request`; once open, calls `on_open` and starts reading.
  void accept(Request request, OpenCallback on_open);
  // The handler's thread: runs the route's handler, then closes after the outbox drains.
  void run_handler();
  // Any thread: marks the connection closed (waking the handler) and drops the socket.
  void abort();

  Result<WebSocketMessage> receive() override;
  Status send_text(std::string_view text) override;
  Status send_binary(std::span<const std::uint8_t> bytes) override;
  bool closed() const override { return closed_.load(); }

 private:
  Status send(bool binary, std::string data);
  void read_more();  // io thread, from here on
  void on_read(boost::beast::error_code ec);
  void deliver(Result<WebSocketMessage> message);
  void write_next();
  void close_gracefully();
  void mark_closed();

  boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;
  const WebSocketRoute& route_;
  boost::beast::flat_buffer read_buffer_;  // io thread only
  bool discarding_ = false;                // io thread only: skipping an oversize message

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Result<WebSocketMessage>> inbox_;
  std::deque<WebSocketMessage> outbox_;  // front: being written
  std::size_t outbox_bytes_ = 0;
  bool reading_ = false;    // a read is pending or about to be
  bool writing_ = false;    // a write is pending or about to be
  bool finishing_ = false;  // the handler returned: close once the outbox is empty
  std::atomic<bool> closed_{false};
};

}  // namespace lipsync::http::detail
