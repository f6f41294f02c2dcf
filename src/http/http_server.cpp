#include "http/http_server.h"

#include <array>
#include <atomic>
#include <chrono>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "core/client_text.h"
#include "core/guard.h"
#include "core/log.h"
#include "http/http_status.h"
#include "http/websocket_hub.h"

namespace lipsync::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

constexpr std::size_t kMaxRequestBytes = 64 * 1024;  // requests here are small GETs
constexpr std::size_t kMaxHeaderBytes = 8 * 1024;    // Beast's default, stated
// After a closing answer, how long and how much of what the client still sends is read and dropped.
constexpr std::chrono::milliseconds kLingerTime{2000};
constexpr std::size_t kMaxLingerBytes = 1024 * 1024;

using detail::WebSocketHub;
using detail::WebSocketSession;

// Open connections per remote address. A connection holds a ticket (HTTP, then its WebSocket
// when upgraded) and gives it back when it closes.
class ClientConnections {
 public:
  explicit ClientConnections(std::size_t max_per_client)
      : state_(std::make_shared<State>()), max_per_client_(max_per_client) {}

  // Null when `address` already holds max_per_client connections.
  std::shared_ptr<void> admit(const std::string& address) {
    std::lock_guard lock(state_->mutex);
    std::size_t& open = state_->open[address];
    if (max_per_client_ > 0 && open >= max_per_client_) return nullptr;
    ++open;
    return std::make_shared<Ticket>(state_, address);
  }
  std::size_t limit() const { return max_per_client_; }

 private:
  struct State {
    std::mutex mutex;
    std::unordered_map<std::string, std::size_t> open;
  };
  struct Ticket {
    Ticket(std::shared_ptr<State> state, std::string address)
        : state(std::move(state)), address(std::move(address)) {}
    ~Ticket() {
      std::lock_guard lock(state->mutex);
      if (--state->open[address] == 0) state->open.erase(address);
    }
    std::shared_ptr<State> state;
    std::string address;
  };
  std::shared_ptr<State> state_;  // tickets may outlive this object (sessions end on any thread)
  const std::size_t max_per_client_;
};

HttpResponse text(int status, std::string body) {
  return {status, "text/plain; charset=utf-8", std::move(body)};
}

HttpResponse route(const Routes& routes, const HttpRequest& request) {
  const std::string path = request.target.substr(0, request.target.find('?'));
  const auto it = routes.find(path);
  if (it == routes.end()) return text(404, "not found: " + client_text(path) + "\n");
  if (request.method != "GET" && request.method != "HEAD")
    return text(405, "method not allowed: " + client_text(request.method) + "\n");
  try {
    return it->second(request);
  } catch (...) {  // a handler's bug must not take the server down
    const Status status = status_from_exception(
        std::current_exception(), fmt::format("handler for {} failed", client_text(path)));
    LOG_ERROR("http", "{}", status.message());
    return text(http_status_code(status.code()), "internal error\n");
  }
}

// The answer to a request that could not be read, or none when there is nobody to answer
// (the peer closed, the server stops, the request timed out).
std::optional<HttpResponse> read_failure(beast::error_code ec) {
  if (ec == beast::http::error::body_limit)
    return text(413, fmt::format("request body over {} bytes\n", kMaxRequestBytes));
  if (ec == beast::http::error::header_limit)
    return text(431, fmt::format("request headers over {} bytes\n", kMaxHeaderBytes));
  if (ec.category() == beast::http::make_error_code(beast::http::error::bad_target).category() &&
      ec != beast::http::error::end_of_stream && ec != beast::http::error::partial_message)
    return text(400, fmt::format("malformed HTTP request: {}\n", ec.message()));
  return std::nullopt;
}

// One connection: read a request, answer, repeat while keep-alive.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<void> ticket, const Routes& routes,
          WebSocketHub& websockets, const ConnectionLimits& limits, std::size_t per_client)
      : stream_(std::move(socket)),
        ticket_(std::move(ticket)),
        routes_(routes),
        websockets_(websockets),
        limits_(limits),
        per_client_(per_client) {}

  void start() { read(); }

 private:
  void read() {
    parser_.emplace();
    parser_->body_limit(kMaxRequestBytes);
    parser_->header_limit(kMaxHeaderBytes);
    stream_.expires_after(limits_.request_timeout);
    beast::http::async_read(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              if (!ec) return self->respond();
                              if (auto answer = read_failure(ec)) self->send(*answer, false);
                            });
  }

  void respond() {
    const auto& req = parser_->get();
    const HttpRequest request{std::string(req.method_string()), std::string(req.target())};
    if (ticket_ == nullptr) {  // over the per-client limit: answered, then closed
      return send(text(429, fmt::format("too many connections from your address (at most {} "
                                        "open at once); close some and retry\n",
                                        per_client_)),
                  false);
    }
    if (beast::websocket::is_upgrade(req)) return upgrade(request);
    send(route(routes_, request), req.keep_alive());
  }

  // A WebSocket route takes the connection over; anything else is answered over HTTP.
  void upgrade(const HttpRequest& request) {
    const std::string path = request.target.substr(0, request.target.find('?'));
    const WebSocketRoute* route = websockets_.find(path);
    if (route == nullptr)
      return send(text(404, "no WebSocket endpoint at " + client_text(path) + "\n"), false);
    if (auto [status, reason] = websockets_.refusal(); status != 0)
      return send(text(status, reason), false);
    stream_.expires_never();
    auto session = websockets_.make_session(stream_.release_socket(), *route, std::move(ticket_));
    session->accept(parser_->release(), [&hub = websockets_](auto open) { hub.open(open); });
  }

  void send(const HttpResponse& answer, bool keep_alive) {
    auto res = std::make_shared<beast::http::response<beast::http::string_body>>(
        static_cast<beast::http::status>(answer.status), 11);
    res->set(beast::http::field::server, "lipsync");
    res->set(beast::http::field::content_type, answer.content_type);
    res->keep_alive(keep_alive);
    const bool head =
        parser_->is_header_done() && parser_->get().method() == beast::http::verb::head;
    if (!head) res->body() = answer.body;
    res->prepare_payload();
    stream_.expires_after(limits_.request_timeout);  // a client that does not read is dropped
    beast::http::async_write(stream_, *res,
                             [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
                               if (!ec && res->keep_alive()) return self->read();
                               beast::error_code ignored;
                               self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                               if (ec) return;
                               self->stream_.expires_after(kLingerTime);
                               self->linger();
                             });
  }

  // A "lingering close" (as nginx and Apache do): after an answer that ends the connection, what
  // the client still sends (the rest of a refused body) is read and dropped for a short while.
  // Closing with unread bytes would make the kernel reset the connection, and the client could
  // see "broken pipe" or "connection reset" instead of the answer it was sent.
  void linger() {  // under the deadline set once before the first call
    stream_.async_read_some(asio::buffer(discard_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              self->lingered_ += n;
                              if (!ec && self->lingered_ < kMaxLingerBytes) self->linger();
                            });
  }

  beast::tcp_stream stream_;
  std::shared_ptr<void> ticket_;  // null: over the per-client limit
  beast::flat_buffer buffer_;
  std::optional<beast::http::request_parser<beast::http::string_body>> parser_;
  const Routes& routes_;
  WebSocketHub& websockets_;
  const ConnectionLimits& limits_;
  const std::size_t per_client_;
  std::array<char, 16 * 1024> discard_{};
  std::size_t lingered_ = 0;
};

std::string remote_address(const tcp::socket& socket) {
  beast::error_code ec;
  const auto endpoint = socket.remote_endpoint(ec);
  return ec ? std::string("?") : endpoint.address().to_string();
}

}  // namespace

struct HttpServer::Impl {
  Routes routes;
  ConnectionLimits limits;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::thread thread;
  std::atomic<bool> stopped{false};
  std::unique_ptr<ClientConnections> clients;
  std::unique_ptr<WebSocketHub> websockets;  // destroyed before the io_context

  void accept() {
    acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec) return;  // closed by stop()
      const std::string address = remote_address(socket);
      auto ticket = clients->admit(address);
      if (ticket == nullptr) {
        LOG_WARN("http", "refusing a connection from {}: it has {} open already", address,
                 clients->limit());
      }
      std::make_shared<Session>(std::move(socket), std::move(ticket), routes, *websockets, limits,
                                clients->limit())
          ->start();
      accept();
    });
  }
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() {
  stop();
}

Result<std::unique_ptr<HttpServer>> HttpServer::start(const std::string& host, int port,
                                                      Routes routes, WebSocketRoutes websockets,
                                                      ConnectionLimits limits) {
  auto impl = std::make_unique<Impl>();
  impl->routes = std::move(routes);
  impl->limits = limits;
  impl->clients = std::make_unique<ClientConnections>(limits.max_per_client);
  impl->websockets = std::make_unique<WebSocketHub>(std::move(websockets), limits);
  beast::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) return make_error(ErrorCode::kInvalidArgument, "HTTP host '{}': {}", host, ec.message());
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(port));
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return make_error(ErrorCode::kUnavailable, "cannot listen for HTTP on {}:{}: {}", host, port,
                      ec.message());
  }
  impl->accept();
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->io.run(); });
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

int HttpServer::port() const {
  return impl_->acceptor.local_endpoint().port();
}

void HttpServer::close_websockets(std::chrono::milliseconds grace, const std::string& reason) {
  impl_->websockets->stop(grace, reason);  // while the io thread still runs: handlers may send
}

void HttpServer::stop(std::chrono::milliseconds grace, const std::string& reason) {
  if (impl_->stopped.exchange(true)) return;
  close_websockets(grace, reason);
  asio::post(impl_->io, [this] {
    beast::error_code ignored;
    impl_->acceptor.close(ignored);
    impl_->io.stop();
  });
  if (impl_->thread.joinable()) impl_->thread.join();
}

Routes standard_routes(const Metrics& metrics, std::function<bool()> ready) {
  Routes routes;
  routes["/health/live"] = [](const HttpRequest&) {
    return HttpResponse{200, "text/plain", "live\n"};
  };
  routes["/health/ready"] = [ready = std::move(ready)](const HttpRequest&) {
    return ready() ? HttpResponse{200, "text/plain", "ready\n"}
                   : HttpResponse{503, "text/plain", "not ready\n"};
  };
  routes["/metrics"] = [&metrics](const HttpRequest&) {
    return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8", metrics.prometheus_text()};
  };
  return routes;
}

}  // namespace lipsync::http
