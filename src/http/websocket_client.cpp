#include "http/websocket_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

namespace lipsync::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

Status closed_or(const beast::error_code& ec, std::string_view what) {
  if (ec == websocket::error::closed)
    return make_error(ErrorCode::kUnavailable, "the server closed the WebSocket connection");
  return make_error(ErrorCode::kUnavailable, "WebSocket {}: {}", what, ec.message());
}

}  // namespace

struct WebSocketClient::Impl {
  asio::io_context io;
  websocket::stream<asio::ip::tcp::socket> ws{io};
};

WebSocketClient::WebSocketClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WebSocketClient::~WebSocketClient() = default;

Result<std::unique_ptr<WebSocketClient>> WebSocketClient::connect(const std::string& host, int port,
                                                                  const std::string& path) {
  auto impl = std::make_unique<Impl>();
  beast::error_code ec;
  asio::ip::tcp::resolver resolver(impl->io);
  const auto endpoints = resolver.resolve(host, std::to_string(port), ec);
  if (!ec) asio::connect(beast::get_lowest_layer(impl->ws), endpoints, ec);
  if (ec) {
    return make_error(ErrorCode::kUnavailable, "cannot connect to {}:{}: {}", host, port,
                      ec.message());
  }
  impl->ws.read_message_max(0);  // the client trusts its server's message sizes
  impl->ws.handshake(host + ":" + std::to_string(port), path, ec);
  if (ec) {
    return make_error(ErrorCode::kUnavailable, "WebSocket handshake with {}:{}{}: {}", host, port,
                      path, ec.message());
  }
  return std::unique_ptr<WebSocketClient>(new WebSocketClient(std::move(impl)));
}

Status WebSocketClient::send_text(std::string_view text) {
  beast::error_code ec;
  impl_->ws.text(true);
  impl_->ws.write(asio::buffer(text.data(), text.size()), ec);
  return ec ? closed_or(ec, "send") : Status{};
}

Status WebSocketClient::send_binary(std::span<const std::uint8_t> bytes) {
  beast::error_code ec;
  impl_->ws.binary(true);
  impl_->ws.write(asio::buffer(bytes.data(), bytes.size()), ec);
  return ec ? closed_or(ec, "send") : Status{};
}

Result<WebSocketMessage> WebSocketClient::receive() {
  beast::flat_buffer buffer;
  beast::error_code ec;
  impl_->ws.read(buffer, ec);
  if (ec) return closed_or(ec, "receive");
  return WebSocketMessage{impl_->ws.got_binary(), beast::buffers_to_string(buffer.data())};
}

Status WebSocketClient::close() {
  beast::error_code ec;
  impl_->ws.close(websocket::close_code::normal, ec);
  return ec && ec != websocket::error::closed ? closed_or(ec, "close") : Status{};
}

}  // namespace lipsync::http
