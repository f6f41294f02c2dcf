#include "http/websocket_session.h"

#include <boost/asio/post.hpp>

#include "core/guard.h"
#include "core/log.h"

namespace lipsync::http::detail {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

constexpr std::size_t kReadChunkBytes = 256 * 1024;
constexpr std::size_t kMaxCloseReasonBytes = 123;  // RFC 6455 §5.5: 125 bytes less the code

long long ms(std::chrono::milliseconds duration) {
  return static_cast<long long>(duration.count());
}

}  // namespace

WebSocketSession::WebSocketSession(asio::ip::tcp::socket socket, const WebSocketRoute& route,
                                   const ConnectionLimits& limits, std::shared_ptr<void> ticket,
                                   std::function<void()> on_closed)
    : ws_(std::move(socket)),
      route_(route),
      limits_(limits),
      timer_(ws_.get_executor()),
      ticket_(std::move(ticket)),
      on_closed_(std::move(on_closed)) {}

void WebSocketSession::accept(Request request, OpenCallback on_open) {
  beast::get_lowest_layer(ws_).expires_never();  // this class's timer takes over
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = websocket::stream_base::none();
  timeouts.idle_timeout = websocket::stream_base::none();
  timeouts.keep_alive_pings = false;
  ws_.set_option(timeouts);
  ws_.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(beast::http::field::server, "lipsync"); }));
  ws_.read_message_max(0);  // the route's limit is enforced here, without failing the stream
  ws_.auto_fragment(false);
  {
    std::lock_guard lock(mutex_);
    reading_ = true;
  }
  arm_timer(std::min(opened_ + limits_.first_message_timeout, opened_ + limits_.idle_timeout));
  ws_.async_accept(request,
                   [self = shared_from_this(), on_open = std::move(on_open)](beast::error_code ec) {
                     if (ec) {
                       LOG_DEBUG("http", "WebSocket handshake failed: {}", ec.message());
                       self->closed_on_io();
                       return;
                     }
                     on_open(self);
                     self->read_more();
                   });
}

void WebSocketSession::run_handler() {
  try {
    route_.handler(*this);
  } catch (...) {  // a handler's bug must not take the server down
    LOG_ERROR(
        "http", "{}",
        status_from_exception(std::current_exception(), "WebSocket handler failed").message());
  }
  std::lock_guard lock(mutex_);
  finishing_ = true;
  if (!writing_ && !closed_) {
    asio::post(ws_.get_executor(), [self = shared_from_this()] { self->close_gracefully(); });
  }
}

void WebSocketSession::shut_down(const std::string& reason) {
  std::lock_guard lock(mutex_);
  shutdown_reason_ = reason;
  changed_.notify_all();
}

void WebSocketSession::abort() {
  mark_closed();
  asio::post(ws_.get_executor(), [self = shared_from_this()] {
    beast::get_lowest_layer(self->ws_).close();
    self->closed_on_io();
  });
}

Result<WebSocketMessage> WebSocketSession::receive() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return !inbox_.empty() || closed_ || shutdown_reason_; });
  if (shutdown_reason_) return make_error(ErrorCode::kUnavailable, "{}", *shutdown_reason_);
  if (inbox_.empty()) {
    return make_error(ErrorCode::kUnavailable, "the WebSocket connection is closed{}{}",
                      close_reason_.empty() ? "" : ": ", close_reason_);
  }
  Result<WebSocketMessage> message = std::move(inbox_.front());
  inbox_.pop_front();
  if (!reading_ && !closed_) {  // reading paused on a full inbox: resume
    reading_ = true;
    asio::post(ws_.get_executor(), [self = shared_from_this()] { self->read_more(); });
  }
  return message;
}

Status WebSocketSession::send_text(std::string_view text) {
  return send(false, std::string(text));
}

Status WebSocketSession::send_binary(std::span<const std::uint8_t> bytes) {
  return send(true, std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

Status WebSocketSession::send(bool binary, std::string data) {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return closed_ || outbox_bytes_ < kMaxOutboxBytes; });
  if (closed_) return make_error(ErrorCode::kUnavailable, "the WebSocket connection is closed");
  outbox_bytes_ += data.size();
  outbox_.push_back({binary, std::move(data)});
  if (!writing_) {
    writing_ = true;
    asio::post(ws_.get_executor(), [self = shared_from_this()] { self->write_next(); });
  }
  return {};
}

void WebSocketSession::read_more() {
  ws_.async_read_some(
      read_buffer_, kReadChunkBytes,
      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
}

std::size_t WebSocketSession::message_limit() const {
  if (messages_read_ == 0 && route_.max_first_message_bytes > 0)
    return std::min(route_.max_first_message_bytes, route_.max_message_bytes);
  return route_.max_message_bytes;
}

void WebSocketSession::on_read(beast::error_code ec) {
  if (ec) {
    if (ec != websocket::error::closed) LOG_DEBUG("http", "WebSocket read: {}", ec.message());
    closed_on_io();
    return;
  }
  last_activity_ = Clock::now();
  const std::size_t limit = message_limit();
  if (!discarding_ && read_buffer_.size() > limit) {
    discarding_ = true;  // tell the handler now; drop the rest of the message as it arrives
    deliver(
        make_error(ErrorCode::kResourceExhausted, "message too large: more than {} bytes", limit));
  }
  if (discarding_) read_buffer_.clear();
  if (ws_.is_message_done()) {
    if (!discarding_) {
      deliver(WebSocketMessage{ws_.got_binary(), beast::buffers_to_string(read_buffer_.data())});
    }
    ++messages_read_;
    discarding_ = false;
    read_buffer_.clear();
    read_buffer_.shrink_to_fit();
  }
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    if (inbox_.size() >= kMaxInboxMessages) {
      reading_ = false;  // receive() resumes
      return;
    }
  }
  read_more();
}

void WebSocketSession::deliver(Result<WebSocketMessage> message) {
  std::lock_guard lock(mutex_);
  inbox_.push_back(std::move(message));
  changed_.notify_all();
}

void WebSocketSession::write_next() {
  WebSocketMessage* front = nullptr;
  bool close_now = false;
  {
    std::lock_guard lock(mutex_);
    if (outbox_.empty() || closed_) {
      writing_ = false;
      close_now = finishing_ && !closed_;
    } else {
      front = &outbox_.front();  // stays put: the deque only grows at the back meanwhile
    }
  }
  if (front == nullptr) {
    if (close_now) close_gracefully();
    return;
  }
  ws_.binary(front->binary);
  ws_.async_write(asio::buffer(front->data),
                  [self = shared_from_this()](beast::error_code ec, std::size_t) {
                    self->last_activity_ = Clock::now();
                    {
                      std::lock_guard lock(self->mutex_);
                      self->outbox_bytes_ -= self->outbox_.front().data.size();
                      self->outbox_.pop_front();
                      self->changed_.notify_all();
                    }
                    if (ec) {
                      LOG_DEBUG("http", "WebSocket write: {}", ec.message());
                      self->closed_on_io();
                    }
                    self->write_next();
                  });
}

void WebSocketSession::close_gracefully() {
  websocket::close_reason reason(websocket::close_code::normal);
  {
    std::lock_guard lock(mutex_);
    if (shutdown_reason_) {
      const std::string text = shutdown_reason_->substr(0, kMaxCloseReasonBytes);
      reason = websocket::close_reason(websocket::close_code::going_away, text);
    }
  }
  start_close(reason);
}

void WebSocketSession::start_close(websocket::close_reason reason) {
  if (closing_) return;
  closing_ = true;
  arm_timer(Clock::now() + limits_.close_timeout);
  ws_.async_close(reason, [self = shared_from_this()](beast::error_code) { self->closed_on_io(); });
}

void WebSocketSession::arm_timer(Clock::time_point at) {
  timer_.expires_at(at);
  timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (!ec) self->on_timer();
  });
}

void WebSocketSession::on_timer() {
  if (closing_) {  // the peer did not answer the close frame in time
    beast::get_lowest_layer(ws_).close();
    closed_on_io();
    return;
  }
  if (closed_) return;
  const auto now = Clock::now();
  if (messages_read_ == 0 && now >= opened_ + limits_.first_message_timeout) {
    return time_out(
        fmt::format("no message within {} ms of opening", ms(limits_.first_message_timeout)));
  }
  if (now >= last_activity_ + limits_.idle_timeout)
    return time_out(fmt::format("no message either way for {} ms", ms(limits_.idle_timeout)));
  Clock::time_point next = last_activity_ + limits_.idle_timeout;
  if (messages_read_ == 0) next = std::min(next, opened_ + limits_.first_message_timeout);
  arm_timer(next);
}

void WebSocketSession::time_out(const std::string& why) {
  LOG_INFO("http", "closing a WebSocket: {}", why);
  mark_closed(why);
  if (!ws_.is_open()) {  // still in the handshake
    beast::get_lowest_layer(ws_).close();
    closed_on_io();
    return;
  }
  const std::string text = why.substr(0, kMaxCloseReasonBytes);
  start_close(websocket::close_reason(websocket::close_code::policy_error, text));
}

void WebSocketSession::closed_on_io(const std::string& why) {
  timer_.cancel();
  ticket_.reset();
  mark_closed(why);
}

void WebSocketSession::mark_closed(const std::string& why) {
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    closed_ = true;
    close_reason_ = why;
    changed_.notify_all();
  }
  if (on_closed_) on_closed_();
}

}  // namespace lipsync::http::detail
