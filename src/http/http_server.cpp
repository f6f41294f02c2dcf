#include "http/http_server.h"

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <list>
#include <mutex>
#include <optional>
#include <thread>

#include "core/guard.h"
#include "core/log.h"
#include "http/http_status.h"
#include "http/websocket_session.h"

namespace lipsync::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

constexpr std::size_t kMaxRequestBytes = 64 * 1024;  // requests here are small GETs

using detail::WebSocketSession;

// The WebSocket side of the server: the routes, and one handler thread per open connection.
class WebSocketHub {
 public:
  explicit WebSocketHub(WebSocketRoutes routes) : routes_(std::move(routes)) {}
  ~WebSocketHub() { stop(); }

  const WebSocketRoute* find(const std::string& path) const {
    const auto it = routes_.find(path);
    return it == routes_.end() ? nullptr : &it->second;
  }
  bool full() {
    std::lock_guard lock(mutex_);
    reap_locked();
    return handlers_.size() >= kMaxWebSocketConnections;
  }
  // io thread, once a connection is open: its handler gets a thread (none after stop()).
  void open(const std::shared_ptr<WebSocketSession>& session) {
    std::lock_guard lock(mutex_);
    reap_locked();
    if (stopped_) {
      session->abort();
      return;
    }
    auto done = std::make_shared<std::atomic<bool>>(false);
    handlers_.push_back({std::thread([session, done] {
                           session->run_handler();
                           *done = true;
                         }),
                         session, done});
  }
  // Closes every connection and joins the handlers (they see closed() and failing sends).
  void stop() {
    std::list<Handler> handlers;
    {
      std::lock_guard lock(mutex_);
      stopped_ = true;
      handlers.swap(handlers_);
    }
    for (auto& handler : handlers) {
      if (auto session = handler.session.lock()) session->abort();
    }
    for (auto& handler : handlers) handler.thread.join();
  }

 private:
  struct Handler {
    std::thread thread;
    std::weak_ptr<WebSocketSession> session;
    std::shared_ptr<std::atomic<bool>> done;
  };

  void reap_locked() {
    for (auto it = handlers_.begin(); it != handlers_.end();) {
      if (!*it->done) {
        ++it;
        continue;
      }
      it->thread.join();
      it = handlers_.erase(it);
    }
  }

  const WebSocketRoutes routes_;
  std::mutex mutex_;
  std::list<Handler> handlers_;
  bool stopped_ = false;
};

HttpResponse route(const Routes& routes, const HttpRequest& request) {
  const std::string path = request.target.substr(0, request.target.find('?'));
  const auto it = routes.find(path);
  if (it == routes.end()) return {404, "text/plain; charset=utf-8", "not found: " + path + "\n"};
  if (request.method != "GET" && request.method != "HEAD") {
    return {405, "text/plain; charset=utf-8", "method not allowed: " + request.method + "\n"};
  }
  try {
    return it->second(request);
  } catch (...) {  // a handler's bug must not take the server down
    const Status status =
        status_from_exception(std::current_exception(), fmt::format("handler for {} failed", path));
    LOG_ERROR("http", "{}", status.message());
    return {http_status_code(status.code()), "text/plain; charset=utf-8", "internal error\n"};
  }
}

// One connection: read a request, answer, repeat while keep-alive.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const Routes& routes, WebSocketHub& websockets)
      : stream_(std::move(socket)), routes_(routes), websockets_(websockets) {}

  void start() { read(); }

 private:
  void read() {
    parser_.emplace();
    parser_->body_limit(kMaxRequestBytes);
    stream_.expires_after(std::chrono::seconds(30));
    beast::http::async_read(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              if (!ec) self->respond();
                            });
  }

  void respond() {
    const auto& req = parser_->get();
    const HttpRequest request{std::string(req.method_string()), std::string(req.target())};
    if (beast::websocket::is_upgrade(req)) {
      upgrade(request);
      return;
    }
    send(route(routes_, request));
  }

  // A WebSocket route takes the connection over; anything else is answered over HTTP.
  void upgrade(const HttpRequest& request) {
    const std::string path = request.target.substr(0, request.target.find('?'));
    const WebSocketRoute* route = websockets_.find(path);
    if (route == nullptr) {
      send({404, "text/plain; charset=utf-8", "no WebSocket endpoint at " + path + "\n"});
    } else if (websockets_.full()) {
      send({503, "text/plain; charset=utf-8", "too many WebSocket connections, retry later\n"});
    } else {
      auto session = std::make_shared<WebSocketSession>(stream_.release_socket(), *route);
      session->accept(parser_->release(), [&hub = websockets_](auto open) { hub.open(open); });
    }
  }

  void send(const HttpResponse& answer) {
    const auto& req = parser_->get();
    auto res = std::make_shared<beast::http::response<beast::http::string_body>>(
        static_cast<beast::http::status>(answer.status), req.version());
    res->set(beast::http::field::server, "lipsync");
    res->set(beast::http::field::content_type, answer.content_type);
    res->keep_alive(req.keep_alive());
    if (req.method() != beast::http::verb::head) res->body() = answer.body;
    res->prepare_payload();
    beast::http::async_write(stream_, *res,
                             [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
                               if (!ec && res->keep_alive()) self->read();
                             });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<beast::http::request_parser<beast::http::string_body>> parser_;
  const Routes& routes_;
  WebSocketHub& websockets_;
};

}  // namespace

struct HttpServer::Impl {
  Routes routes;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::thread thread;
  std::atomic<bool> stopped{false};
  std::unique_ptr<WebSocketHub> websockets;  // destroyed before the io_context

  void accept() {
    acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec) return;  // closed by stop()
      std::make_shared<Session>(std::move(socket), routes, *websockets)->start();
      accept();
    });
  }
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() {
  stop();
}

Result<std::unique_ptr<HttpServer>> HttpServer::start(const std::string& host, int port,
                                                      Routes routes, WebSocketRoutes websockets) {
  auto impl = std::make_unique<Impl>();
  impl->routes = std::move(routes);
  impl->websockets = std::make_unique<WebSocketHub>(std::move(websockets));
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

void HttpServer::stop() {
  if (impl_->stopped.exchange(true)) return;
  impl_->websockets->stop();  // while the io thread still runs: handlers may be sending
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
