// The HTTP server started in-process on port 0, queried with a real client.
#include "http/http_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace lipsync::http {
namespace {

namespace beast = boost::beast;
using tcp = boost::asio::ip::tcp;

struct Reply {
  int status = 0;
  std::string body;
};

Reply fetch(int port, const std::string& target, beast::http::verb verb = beast::http::verb::get) {
  boost::asio::io_context io;
  beast::tcp_stream stream(io);
  stream.connect(
      tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
  beast::http::request<beast::http::empty_body> req(verb, target, 11);
  req.set(beast::http::field::host, "127.0.0.1");
  beast::http::write(stream, req);
  beast::flat_buffer buffer;
  beast::http::response<beast::http::string_body> res;
  beast::http::read(stream, buffer, res);
  return {static_cast<int>(res.result_int()), res.body()};
}

TEST(HttpServer, HealthReadinessAndMetrics) {
  Metrics metrics;
  metrics.count_request("compat", "OK");
  std::atomic<bool> ready{false};
  auto server =
      HttpServer::start("127.0.0.1", 0, standard_routes(metrics, [&] { return ready.load(); }));
  ASSERT_TRUE(server.ok()) << server.status().to_string();
  const int port = (*server)->port();
  ASSERT_GT(port, 0);

  EXPECT_EQ(fetch(port, "/health/live").status, 200);
  EXPECT_EQ(fetch(port, "/health/ready").status, 503);
  ready = true;
  EXPECT_EQ(fetch(port, "/health/ready").status, 200);
  const Reply m = fetch(port, "/metrics");
  EXPECT_EQ(m.status, 200);
  EXPECT_NE(m.body.find(R"(lipsync_requests_total{api="compat",code="OK"} 1)"), std::string::npos);
  EXPECT_EQ(fetch(port, "/nowhere").status, 404);
  EXPECT_EQ(fetch(port, "/metrics", beast::http::verb::post).status, 405);
}

TEST(HttpServer, AFailingHandlerAnswers500AndTheServerKeepsServing) {
  Routes routes;
  routes["/boom"] = [](const HttpRequest&) -> HttpResponse { throw std::runtime_error("bug"); };
  routes["/ok"] = [](const HttpRequest& r) { return HttpResponse{200, "text/plain", r.target}; };
  auto server = HttpServer::start("127.0.0.1", 0, std::move(routes));
  ASSERT_TRUE(server.ok());
  EXPECT_EQ(fetch((*server)->port(), "/boom").status, 500);
  const Reply ok = fetch((*server)->port(), "/ok?x=1");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "/ok?x=1");
}

TEST(HttpServer, BadAddressAndBusyPortAreClearErrors) {
  auto bad = HttpServer::start("not-an-address", 0, {});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("not-an-address"), std::string::npos);
  auto first = HttpServer::start("127.0.0.1", 0, {});
  ASSERT_TRUE(first.ok());
  auto second = HttpServer::start("127.0.0.1", (*first)->port(), {});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), ErrorCode::kUnavailable);
}

}  // namespace
}  // namespace lipsync::http
