#include "http/http_server.h"

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <optional>
#include <thread>

#include "core/log.h"

namespace lipsync::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

constexpr std::size_t kMaxRequestBytes = 64 * 1024;  // requests here are small GETs

HttpResponse route(const Routes& routes, const HttpRequest& request) {
  const std::string path = request.target.substr(0, request.target.find('?'));
  const auto it = routes.find(path);
  if (it == routes.end()) return {404, "text/plain; charset=utf-8", "not found: " + path + "\n"};
  if (request.method != "GET" && request.method != "HEAD") {
    return {405, "text/plain; charset=utf-8", "method not allowed: " + request.method + "\n"};
  }
  try {
    return it->second(request);
  } catch (const std::exception& e) {  // a handler's bug must not take the server down
    LOG_ERROR("http", "handler for {} failed: {}", path, e.what());
    return {500, "text/plain; charset=utf-8", "internal error\n"};
  }
}

// One connection: read a request, answer, repeat while keep-alive.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const Routes& routes) : stream_(std::move(socket)), routes_(routes) {}

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
    const HttpResponse answer = route(routes_, request);
    auto res = std::make_shared<beast::http::response<beast::http::string_body>>(
        static_cast<beast::http::status>(answer.status), req.version());
    res->set(beast::http::field::server, "lipsync");
    res->set(beast::http::field::content_type, answer.content_type);
    res->keep_alive(req.keep_alive());
    if (request.method != "HEAD") res->body() = answer.body;
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
};

}  // namespace

struct HttpServer::Impl {
  Routes routes;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::thread thread;
  std::atomic<bool> stopped{false};

  void accept() {
    acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec) return;  // closed by stop()
      std::make_shared<Session>(std::move(socket), routes)->start();
      accept();
    });
  }
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() {
  stop();
}

Result<std::unique_ptr<HttpServer>> HttpServer::start(const std::string& host, int port,
                                                      Routes routes) {
  auto impl = std::make_unique<Impl>();
  impl->routes = std::move(routes);
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
