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

Status closed_error() {
  return make_error(ErrorCode::kUnavailable, "the WebSocket connection is closed");
}

}  // namespace

WebSocketSession::WebSocketSession(asio::ip::tcp::socket socket, const WebSocketRoute& route)
    : ws_(std::move(socket)), route_(route) {}

void WebSocketSession::accept(Request request, OpenCallback on_open) {
  beast::get_lowest_layer(ws_).expires_never();  // the websocket timeouts take over
  ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
  ws_.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(beast::http::field::server, "lipsync"); }));
  ws_.read_message_max(0);  // the route's limit is enforced here, without failing the stream
  ws_.auto_fragment(false);
  {
    std::lock_guard lock(mutex_);
    reading_ = true;
  }
  ws_.async_accept(request,
                   [self = shared_from_this(), on_open = std::move(on_open)](beast::error_code ec) {
                     if (ec) {
                       LOG_DEBUG("http", "WebSocket handshake failed: {}", ec.message());
                       self->mark_closed();
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

void WebSocketSession::abort() {
  mark_closed();
  asio::post(ws_.get_executor(),
             [self = shared_from_this()] { beast::get_lowest_layer(self->ws_).close(); });
}

Result<WebSocketMessage> WebSocketSession::receive() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return !inbox_.empty() || closed_; });
  if (inbox_.empty()) return closed_error();
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
  if (closed_) return closed_error();
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

void WebSocketSession::on_read(beast::error_code ec) {
  if (ec) {
    if (ec != websocket::error::closed) LOG_DEBUG("http", "WebSocket read: {}", ec.message());
    mark_closed();
    return;
  }
  if (!discarding_ && read_buffer_.size() > route_.max_message_bytes) {
    discarding_ = true;  // tell the handler now; drop the rest of the message as it arrives
    deliver(make_error(ErrorCode::kResourceExhausted,
                       "message too large: more than {} bytes (the limit is {} MiB)",
                       route_.max_message_bytes, route_.max_message_bytes >> 20));
  }
  if (discarding_) read_buffer_.clear();
  if (ws_.is_message_done()) {
    if (!discarding_) {
      deliver(WebSocketMessage{ws_.got_binary(), beast::buffers_to_string(read_buffer_.data())});
    }
    discarding_ = false;
    read_buffer_.clear();
    read_buffer_.shrink_to_fit();
  }
  {
    std::lock_guard lock(mutex_);
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
  {
    std::lock_guard lock(mutex_);
    if (outbox_.empty() || closed_) {
      writing_ = false;
      if (finishing_ && !closed_) close_gracefully();
      return;
    }
    front = &outbox_.front();  // stays put: the deque only grows at the back meanwhile
  }
  ws_.binary(front->binary);
  ws_.async_write(asio::buffer(front->data),
                  [self = shared_from_this()](beast::error_code ec, std::size_t) {
                    {
                      std::lock_guard lock(self->mutex_);
                      self->outbox_bytes_ -= self->outbox_.front().data.size();
                      self->outbox_.pop_front();
                      self->changed_.notify_all();
                    }
                    if (ec) {
                      LOG_DEBUG("http", "WebSocket write: {}", ec.message());
                      self->mark_closed();
                    }
                    self->write_next();
                  });
}

void WebSocketSession::close_gracefully() {
  ws_.async_close(websocket::close_code::normal,
                  [self = shared_from_this()](beast::error_code) { self->mark_closed(); });
}

void WebSocketSession::mark_closed() {
  std::lock_guard lock(mutex_);
  closed_ = true;
  changed_.notify_all();
}

}  // namespace lipsync::http::detail
