// WebSocket routes of the HTTP server with fake handlers, driven by a real Beast client.
#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <future>

#include "http/http_server.h"
#include "http/websocket_client.h"
#include "support/http_get.h"

namespace lipsync::http {
namespace {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = boost::asio::ip::tcp;

constexpr std::size_t kSmallLimit = 1000;

class WsClient {
 public:
  WsClient(int port, const std::string& path) : ws_(io_) {
    beast::get_lowest_layer(ws_).connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"),
                                                       static_cast<unsigned short>(port)));
    ws_.handshake("127.0.0.1", path);
  }
  void send_text(const std::string& text) {
    ws_.text(true);
    ws_.write(boost::asio::buffer(text));
  }
  void send_binary(const std::string& bytes) {
    ws_.binary(true);
    ws_.write(boost::asio::buffer(bytes));
  }
  // The next message, or an error code (websocket::error::closed after a normal close).
  std::pair<beast::error_code, WebSocketMessage> read() {
    beast::flat_buffer buffer;
    beast::error_code ec;
    ws_.read(buffer, ec);
    return {ec, {ws_.got_binary(), beast::buffers_to_string(buffer.data())}};
  }
  void close() { ws_.close(websocket::close_code::normal); }

 private:
  boost::asio::io_context io_;
  websocket::stream<tcp::socket> ws_;
};

// Echoes every message with its kind, and says what receive() failed with.
void echo(WebSocketConnection& ws) {
  while (true) {
    auto message = ws.receive();
    if (!message.ok()) {
      if (message.status().code() == ErrorCode::kUnavailable) return;
      ASSERT_TRUE(ws.send_text("error: " + message.status().to_string()).ok());
      continue;
    }
    if (message->binary) {
      const auto* bytes = reinterpret_cast<const std::uint8_t*>(message->data.data());
      ASSERT_TRUE(ws.send_binary({bytes, message->data.size()}).ok());
    } else {
      ASSERT_TRUE(ws.send_text("text: " + message->data).ok());
    }
  }
}

std::unique_ptr<HttpServer> start(WebSocketRoutes websockets) {
  Routes routes;
  routes["/plain"] = [](const HttpRequest&) { return HttpResponse{200, "text/plain", "plain"}; };
  auto server = HttpServer::start("127.0.0.1", 0, std::move(routes), std::move(websockets));
  EXPECT_TRUE(server.ok()) << server.status().to_string();
  return server.ok() ? std::move(*server) : nullptr;
}

TEST(WebSocket, EchoesTextAndBinaryMessagesAndClosesWhenTheHandlerReturns) {
  auto server = start({{"/ws/echo", {echo, 1 << 20}}});
  ASSERT_NE(server, nullptr);
  WsClient client(server->port(), "/ws/echo");
  client.send_text("hello");
  auto [ec, reply] = client.read();
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_FALSE(reply.binary);
  EXPECT_EQ(reply.data, "text: hello");

  std::string bytes(300'000, '\0');  // several reads' worth
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7);
  client.send_binary(bytes);
  auto [ec2, echoed] = client.read();
  ASSERT_FALSE(ec2) << ec2.message();
  EXPECT_TRUE(echoed.binary);
  EXPECT_EQ(echoed.data, bytes);
  client.close();
  EXPECT_EQ(testing::http_get(server->port(), "/plain").status, 200);  // HTTP routes alongside
}

TEST(WebSocket, OversizeMessageIsAnErrorAndTheConnectionStaysUsable) {
  auto server = start({{"/ws/echo", {echo, kSmallLimit}}});
  ASSERT_NE(server, nullptr);
  WsClient client(server->port(), "/ws/echo");
  client.send_binary(std::string(50 * kSmallLimit, 'x'));
  auto [ec, error] = client.read();
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_NE(error.data.find("RESOURCE_EXHAUSTED"), std::string::npos) << error.data;
  EXPECT_NE(error.data.find("1000 bytes"), std::string::npos) << error.data;
  client.send_text(std::string(kSmallLimit, 'y'));  // at the limit: accepted
  auto [ec2, reply] = client.read();
  ASSERT_FALSE(ec2) << ec2.message();
  EXPECT_EQ(reply.data, "text: " + std::string(kSmallLimit, 'y'));
}

TEST(WebSocket, QueuedMessagesArriveBeforeTheCloseWhenTheHandlerReturns) {
  constexpr int kMessages = 200;
  const auto send_all = [](WebSocketConnection& ws) {
    const std::vector<std::uint8_t> payload(100'000, 7);  // more than the outbox holds at once
    for (int i = 0; i < kMessages; ++i) ASSERT_TRUE(ws.send_binary(payload).ok());
    ASSERT_TRUE(ws.send_text("done").ok());
  };
  auto server = start({{"/ws/burst", {send_all}}});
  ASSERT_NE(server, nullptr);
  WsClient client(server->port(), "/ws/burst");
  for (int i = 0; i < kMessages; ++i) {
    auto [ec, message] = client.read();
    ASSERT_FALSE(ec) << "message " << i << ": " << ec.message();
    ASSERT_EQ(message.data.size(), 100'000u);
  }
  EXPECT_EQ(client.read().second.data, "done");
  EXPECT_EQ(client.read().first, websocket::error::closed);
}

TEST(WebSocket, TheHandlerSeesAClosedPeer) {
  std::promise<Status> stopped;
  const auto send_until_closed = [&](WebSocketConnection& ws) {
    const std::vector<std::uint8_t> payload(10'000, 1);
    Status status;
    while (status.ok()) status = ws.send_binary(payload);
    EXPECT_TRUE(ws.closed());
    stopped.set_value(status);
  };
  auto server = start({{"/ws/stream", {send_until_closed}}});
  ASSERT_NE(server, nullptr);
  {
    WsClient client(server->port(), "/ws/stream");
    ASSERT_FALSE(client.read().first);
    client.close();
  }
  const Status status = stopped.get_future().get();
  EXPECT_EQ(status.code(), ErrorCode::kUnavailable);
  EXPECT_EQ(testing::http_get(server->port(), "/plain").status, 200);
}

TEST(WebSocket, StopWakesAHandlerWaitingToReceive) {
  std::promise<Status> received;
  std::promise<void> waiting;
  const auto wait_forever = [&](WebSocketConnection& ws) {
    waiting.set_value();
    auto message = ws.receive();
    received.set_value(message.status());
  };
  auto server = start({{"/ws/wait", {wait_forever}}});
  ASSERT_NE(server, nullptr);
  WsClient client(server->port(), "/ws/wait");
  waiting.get_future().wait();
  server->stop();  // returns only after the handler did
  EXPECT_EQ(received.get_future().get().code(), ErrorCode::kUnavailable);
}

TEST(WebSocket, UnknownPathsAndFailingHandlersLeaveTheServerServing) {
  const auto throws = [](WebSocketConnection&) { throw std::runtime_error("handler bug"); };
  auto server = start({{"/ws/echo", {echo}}, {"/ws/bug", {throws}}});
  ASSERT_NE(server, nullptr);
  EXPECT_THROW(WsClient(server->port(), "/ws/nowhere"), beast::system_error);
  {
    WsClient bug(server->port(), "/ws/bug");
    EXPECT_TRUE(bug.read().first);  // closed without a message
  }
  WsClient client(server->port(), "/ws/echo");
  client.send_text("still here");
  EXPECT_EQ(client.read().second.data, "text: still here");
}

TEST(WebSocket, TheClientTalksToTheServerAndNamesFailures) {
  auto server = start({{"/ws/echo", {echo}}});
  ASSERT_NE(server, nullptr);
  auto client = WebSocketClient::connect("127.0.0.1", server->port(), "/ws/echo");
  ASSERT_TRUE(client.ok()) << client.status().to_string();
  ASSERT_TRUE((*client)->send_text("hi").ok());
  const std::vector<std::uint8_t> bytes{0, 1, 2, 255};
  ASSERT_TRUE((*client)->send_binary(bytes).ok());
  auto text = (*client)->receive();
  ASSERT_TRUE(text.ok()) << text.status().to_string();
  EXPECT_FALSE(text->binary);
  EXPECT_EQ(text->data, "text: hi");
  auto binary = (*client)->receive();
  ASSERT_TRUE(binary.ok()) << binary.status().to_string();
  EXPECT_TRUE(binary->binary);
  EXPECT_EQ(binary->data, std::string("\0\1\2\xff", 4));
  EXPECT_TRUE((*client)->close().ok());

  auto missing = WebSocketClient::connect("127.0.0.1", server->port(), "/ws/nowhere");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kUnavailable);
  EXPECT_NE(missing.status().message().find("/ws/nowhere"), std::string::npos);
  const int port = server->port();
  server.reset();
  EXPECT_FALSE(WebSocketClient::connect("127.0.0.1", port, "/ws/echo").ok());
}

}  // namespace
}  // namespace lipsync::http
