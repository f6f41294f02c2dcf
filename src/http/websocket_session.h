// One WebSocket connection of the HTTP server (Beast underneath). Module-internal: included by
// the http module only; other modules see http/websocket.h.
//
// Threads: Beast operations run on the server's io thread; the route's handler runs on a
// thread of its own and talks to the io thread through a small inbox and a bounded outbox.
// Timeouts are this class's own timer, not Beast's: Boost 1.74's close timeout asserts
// (websocket/impl/read.hpp:114) when it fires while a read waits behind the closing handshake.
#pragma once

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "http/http_server.h"
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

  // `ticket` is held while the connection is open (the server's per-client count);
  // `on_closed` is called once, on any thread, when the connection is closed.
  WebSocketSession(boost::asio::ip::tcp::socket socket, const WebSocketRoute& route,
                   const ConnectionLimits& limits, std::shared_ptr<void> ticket,
                   std::function<void()> on_closed);

  // io thread: answers the upgrade `request`; once open, calls `on_open` and starts reading.
  void accept(Request request, OpenCallback on_open);
  // The handler's thread: runs the route's handler, then closes after the outbox drains.
  void run_handler();
  // Any thread: receive() answers UNAVAILABLE with `reason` from now on; when the handler
  // returns, the close frame says "going away" with `reason`.
  void shut_down(const std::string& reason);
  // Any thread: marks the connection closed (waking the handler) and drops the socket.
  void abort();

  Result<WebSocketMessage> receive() override;
  Status send_text(std::string_view text) override;
  Status send_binary(std::span<const std::uint8_t> bytes) override;
  bool closed() const override { return closed_.load(); }

 private:
  using Clock = std::chrono::steady_clock;

  Status send(bool binary, std::string data);
  void read_more();  // io thread, from here on
  void on_read(boost::beast::error_code ec);
  std::size_t message_limit() const;
  void deliver(Result<WebSocketMessage> message);
  void write_next();
  void close_gracefully();
  void start_close(boost::beast::websocket::close_reason reason);
  void arm_timer(Clock::time_point at);
  void on_timer();
  void time_out(const std::string& why);
  void closed_on_io(const std::string& why = {});
  void mark_closed(const std::string& why = {});

  boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;
  const WebSocketRoute& route_;
  const ConnectionLimits limits_;
  // io thread only:
  boost::asio::steady_timer timer_;
  std::shared_ptr<void> ticket_;
  boost::beast::flat_buffer read_buffer_;
  bool discarding_ = false;        // skipping an oversize message
  std::size_t messages_read_ = 0;  // whole messages, refused ones included
  Clock::time_point opened_ = Clock::now();
  Clock::time_point last_activity_ = opened_;
  bool closing_ = false;  // the closing handshake has started

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Result<WebSocketMessage>> inbox_;
  std::deque<WebSocketMessage> outbox_;  // front: being written
  std::size_t outbox_bytes_ = 0;
  bool reading_ = false;    // a read is pending or about to be
  bool writing_ = false;    // a write is pending or about to be
  bool finishing_ = false;  // the handler returned: close once the outbox is empty
  std::optional<std::string> shutdown_reason_;
  std::string close_reason_;  // why the connection closed, when the server closed it
  std::function<void()> on_closed_;
  std::atomic<bool> closed_{false};
};

}  // namespace lipsync::http::detail
